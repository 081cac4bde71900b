"""The model lifecycle in-process, on the session's ephemeral Prefect API and real SQLite stores:
register two versions, run, promote, revert, run a prior version, cache hit, reproduce, pipeline."""

from __future__ import annotations

import logging

import pytest

from lume_prefect.models import InvalidInput, ModelRunFailed, PipelineError
from lume_prefect.models.deploy import register_model_version
from lume_prefect.models.pipeline import Pipeline, register_pipeline
from lume_prefect.models.reproduce import reproduce
from lume_prefect.models.run import run_model
from lume_prefect.registry import NoLiveVersion

pytestmark = pytest.mark.prefect
ENTRY = "model.py:toy_beam"


@pytest.fixture
def services(make_services, toy_versions):
    services = make_services()
    for version, source in toy_versions.items():
        assert register_model_version(ENTRY, str(source), services=services) is True
    return services


def test_versions_promote_revert_and_run_prior(services, toy_versions):
    with pytest.raises(NoLiveVersion):
        run_model("toy-beam", {"sigma_x": 1e-3}, services=services)
    services.registry.promote("toy-beam", "1.0.0", _sync=True)
    v1 = run_model("toy-beam", {"sigma_x": 1e-3}, services=services)
    assert (v1.version, v1.cached, v1.mode) == ("1.0.0", False, "in-process")
    assert v1.result.flow_run_id == v1.flow_run_id and v1.flow_run_id is not None
    services.registry.promote("toy-beam", "1.1.0", _sync=True)
    v2 = run_model("toy-beam", {"sigma_x": 1e-3}, services=services)
    assert v2.version == "1.1.0" and v2.outputs["rms_x"] != v1.outputs["rms_x"]
    services.registry.revert("toy-beam", _sync=True)
    back = run_model("toy-beam", {"sigma_x": 1e-3}, services=services)
    assert back.version == "1.0.0" and back.cached and back.outputs == v1.outputs
    prior = run_model("toy-beam", {"sigma_x": 1e-3}, version="1.1.0", services=services)
    assert prior.cached and prior.outputs == v2.outputs
    # same version re-registered from the same source: a no-op
    assert register_model_version(ENTRY, str(toy_versions["1.0.0"]), services=services) is False


def test_a_moved_checkout_of_the_same_code_redeploys_and_runs(services, toy_versions, tmp_path):
    import shutil

    from lume_prefect.models import SourceConflict

    moved = tmp_path / "elsewhere" / "toy_beam"
    shutil.copytree(toy_versions["1.0.0"], moved)
    shutil.rmtree(toy_versions["1.0.0"])  # the old checkout is gone
    assert register_model_version(ENTRY, str(moved), services=services) is False  # same code: no new version
    assert services.registry.get_version("toy-beam", "1.0.0", _sync=True).source == str(moved)
    services.registry.promote("toy-beam", "1.0.0", _sync=True)
    assert run_model("toy-beam", {"sigma_x": 1e-3}, services=services).outputs["rms_x"] > 0  # runs from the new place
    (moved / "model.py").write_text((moved / "model.py").read_text().replace("default_rng(7)", "default_rng(9)"))
    with pytest.raises(SourceConflict, match="already registered with source"):
        register_model_version(ENTRY, str(moved), services=services)  # changed code under the same version: refused
    assert services.registry.get_version("toy-beam", "1.0.0", _sync=True).source == str(moved)


def test_cache_hit_is_logged_with_its_run_and_refresh_recomputes(services, caplog):
    services.registry.promote("toy-beam", "1.0.0", _sync=True)
    first = run_model("toy-beam", {"sigma_x": 2e-3, "drift_m": 1}, services=services)
    with caplog.at_level(logging.INFO):
        hit = run_model("toy-beam", {"drift_m": 1.0, "sigma_x": 0.002}, services=services)  # same inputs, other spelling
    assert hit.cached and hit.flow_run_id == first.flow_run_id
    assert f"cache hit: toy-beam 1.0.0 inputs {first.result.key[:12]} already computed by flow run {first.flow_run_id}" in caplog.text
    fresh = run_model("toy-beam", {"sigma_x": 2e-3, "drift_m": 1}, refresh=True, services=services)
    assert not fresh.cached and fresh.flow_run_id != first.flow_run_id
    assert services.results.count(model="toy-beam", _sync=True) == 1  # the refreshed run replaced the stored one


def test_inputs_are_validated_before_anything_runs(services):
    services.registry.promote("toy-beam", "1.0.0", _sync=True)
    with pytest.raises(InvalidInput, match=r"input 'drift_m' = 500.0 is outside its range \[0, 100\] m"):
        run_model("toy-beam", {"drift_m": 500}, services=services)
    assert services.results.count(_sync=True) == 0


def test_a_failing_version_raises_with_state_and_flow_run(services):
    with pytest.raises(ModelRunFailed) as info:
        run_model("toy-beam", {}, version="1.2.0", services=services)
    assert info.value.state.is_failed() and info.value.flow_run_id is not None
    assert "beam lost at the first quadrupole" in str(info.value)
    assert services.results.count(_sync=True) == 0


def test_files_written_by_a_model_travel_with_its_result(services):
    services.registry.promote("toy-beam", "1.0.0", _sync=True)
    run = run_model("toy-beam", {"save_particles": True}, services=services)
    [ref] = run.result.files
    assert ref.serializer == "hdf5" and ref.path.startswith("toy-beam/1.0.0/particles-")
    particles = services.files.read_ref(ref)
    assert particles["x"].shape == (10_000,)
    assert run.outputs["particles"]["sha256"] == ref.sha256


def test_reproduce_reruns_the_exact_version_and_compares(services):
    services.registry.promote("toy-beam", "1.1.0", _sync=True)
    stored = run_model("toy-beam", {"sigma_x": 3e-3}, services=services)
    services.registry.promote("toy-beam", "1.0.0", _sync=True)  # live moved on; reproduce must not care
    outcome = reproduce(stored.result.key, services=services)
    assert outcome.matches and outcome.rerun.version == "1.1.0" and not outcome.rerun.cached
    assert outcome.rerun.flow_run_id != stored.flow_run_id


def test_calling_the_flow_binds_to_the_spec_signature_and_the_spec_validates(services, toy_versions):
    """The flow's signature is built from the spec; Prefect binds calls to it, the spec refuses bad inputs."""
    from lume_prefect.models import using_services
    from lume_prefect.models.run import load_model_flow

    toy_beam = load_model_flow(ENTRY, str(toy_versions["1.0.0"]))
    with using_services(services):
        by_keyword = toy_beam(sigma_x=2e-3, n_particles=100)
        positional = toy_beam(2e-3, 1e-4, 2.0, 100)
        with pytest.raises(InvalidInput, match=r"input 'drift_m' = 500.0 is outside its range \[0, 100\] m"):
            toy_beam(drift_m=500)
        with pytest.raises(InvalidInput, match=r"input 'sigma_x' must be float, got str 'wide'"):
            toy_beam(sigma_x="wide")
    defaults = {"sigma_px": 1e-4, "drift_m": 2.0, "save_particles": False}
    assert by_keyword.inputs == {"sigma_x": 2e-3, "n_particles": 100, **defaults}  # the spec's defaults filled in
    assert positional.key == by_keyword.key
    assert services.results.count(_sync=True) == 1


def test_a_required_input_and_inputs_that_are_no_python_names(make_services):
    from lume_prefect.models import ModelSpec, using_services

    spec = ModelSpec(
        name="pv-model", version="1.0.0",
        inputs=[
            {"name": "QUAD:IN20:425:BACT", "default": 1.5, "range": [0, 2], "units": "kG"},
            {"name": "gun_phase_deg", "units": "deg"},  # no default: required
        ],
        outputs=[{"name": "y"}],
    )

    @spec.flow
    def pv_model(gun_phase_deg, **pvs):
        return {"y": gun_phase_deg + pvs["QUAD:IN20:425:BACT"]}

    with using_services(make_services()):
        assert pv_model(gun_phase_deg=1.0).outputs == {"y": 2.5}
        assert pv_model(**{"gun_phase_deg": 1.0, "QUAD:IN20:425:BACT": 0.5}).outputs == {"y": 1.5}
        with pytest.raises(InvalidInput, match="input 'gun_phase_deg' is required"):
            pv_model()
        with pytest.raises(InvalidInput, match="input 'QUAD:IN20:425:BACT' = 3.0 is outside its range"):
            pv_model(**{"gun_phase_deg": 1.0, "QUAD:IN20:425:BACT": 3})


PIPELINE_YAML = """
name: beam-chain
version: 1.0.0
description: two drifts, the second starting from the first's size
inputs:
  - {name: sigma_x, default: 0.001, range: [1.0e-6, 0.1], units: m}
steps:
  - name: first
    model: toy-beam
    inputs: {sigma_x: "=inputs.sigma_x", drift_m: 1.0}
  - name: second
    model: toy-beam
    version: 1.1.0
    inputs: {sigma_x: "=first.rms_x", drift_m: 3.0}
outputs:
  final_rms_x: "=second.rms_x"
"""


def test_pipeline_of_two_models_registered_and_run_like_a_model(services):
    services.registry.promote("toy-beam", "1.0.0", _sync=True)
    chain = Pipeline.from_yaml(PIPELINE_YAML)
    assert register_pipeline(chain, services) is True
    services.registry.promote("beam-chain", "1.0.0", _sync=True)
    run = run_model("beam-chain", {"sigma_x": 2e-3}, services=services)
    first = run_model("toy-beam", {"sigma_x": 2e-3, "drift_m": 1.0}, services=services)
    second = run_model("toy-beam", {"sigma_x": first.outputs["rms_x"], "drift_m": 3.0}, version="1.1.0", services=services)
    assert first.cached and second.cached  # the pipeline's steps stored them
    assert run.outputs == {"final_rms_x": second.outputs["rms_x"]}
    assert run_model("beam-chain", {"sigma_x": 2e-3}, services=services).cached


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (lambda y: y.replace("model: toy-beam\n    version", "model: toy-bean\n    version"), "model 'toy-bean'"),
        (lambda y: y.replace("drift_m: 3.0", "drift: 3.0"), "step 'second': model 'toy-beam' has no input 'drift'"),
        (lambda y: y.replace("=first.rms_x", "=first.rms_y"), "step 'first' \\(model 'toy-beam'\\) has no output 'rms_y'"),
        (lambda y: y.replace("=inputs.sigma_x", "=inputs.sigma"), "no pipeline input 'sigma'"),
        (lambda y: y.replace("=first.rms_x", "=third.rms_x"), "names no earlier step 'third'"),
        (lambda y: y.replace("version: 1.1.0", "version: 9.9.9"), "9.9.9"),
    ],
)
def test_pipeline_errors_name_what_is_unknown(services, edit, message):
    services.registry.promote("toy-beam", "1.0.0", _sync=True)
    with pytest.raises(PipelineError, match=message):
        register_pipeline(Pipeline.from_yaml(edit(PIPELINE_YAML)), services)
    assert [m.name for m in services.registry.list_models(_sync=True)] == ["toy-beam"]
