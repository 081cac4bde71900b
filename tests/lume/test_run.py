"""LUME models registered as they are and run through run_model, run_scan (in-process and a
process pool) and reproduce, on the session's Prefect API and real SQLite stores."""

from __future__ import annotations

import getpass

import numpy as np
import pytest

from lume_prefect.models import InvalidInput
from lume_prefect.models.deploy import register_model_version
from lume_prefect.models.reproduce import reproduce
from lume_prefect.models.run import run_model
from lume_prefect.scans import run_scan
from tests.lume.conftest import counter_source
from tests.lume.particle_models import DRIFT

pytestmark = pytest.mark.prefect
PV = "QUAD:IN20:425:BCTRL"
COUNTER = "counter.py:make_counter"  # its ParticleGroup output is written through the file block


def y(x: float, q: float) -> float:
    return 2 * x + 3 * q + 1


@pytest.fixture
def surrogate(make_services, torch_source):
    """The lume-torch surrogate dumped to model.yml, registered and live as surrogate 1.0.0."""
    services = make_services()
    assert register_model_version("model.yml", str(torch_source), name="surrogate", version="1.0.0", services=services)
    services.registry.promote("surrogate", "1.0.0", _sync=True)
    return services


def test_a_torch_yaml_registers_with_default_metadata_runs_and_reproduces(surrogate, torch_source):
    model = surrogate.registry.get_model("surrogate", _sync=True)
    assert (model.author, model.laboratory, model.facility, model.beampath) == (getpass.getuser(), "unspecified", "unspecified", "unspecified")
    run = run_model("surrogate", {"x": 0.25, PV: 0.5}, services=surrogate)
    assert run.outputs == {"y": pytest.approx(y(0.25, 0.5))} and not run.cached
    assert run.result.inputs == {"x": 0.25, PV: 0.5}
    assert run_model("surrogate", {"x": 0.25, PV: 0.5}, services=surrogate).cached
    assert reproduce(run.result.key, services=surrogate).matches
    # registering again from the same files: a no-op
    assert register_model_version("model.yml", str(torch_source), name="surrogate", version="1.0.0", services=surrogate) is False


@pytest.mark.parametrize("executor", ["in-process", "processes"])
def test_a_torch_surrogate_scans(surrogate, executor):
    grid = {"x": [0.0, 0.5, 1.0], PV: [0.0, 1.0]}
    scan = run_scan("surrogate", grid, services=surrogate, executor=executor, workers=2)
    assert (scan.computed, scan.failed) == (6, 0)
    frame = scan.frame
    assert np.allclose(frame["outputs.y"], [y(a, b) for a, b in zip(frame["inputs.x"], frame[f"inputs.{PV}"])])


def test_out_of_range_under_error_is_refused_and_nothing_is_stored(surrogate):
    with pytest.raises(InvalidInput, match=r"model 'surrogate': input 'x' = 1.5 is outside its range \[0, 1\] m"):
        run_model("surrogate", {"x": 1.5}, services=surrogate)
    assert surrogate.results.find(model="surrogate", _sync=True) == []


def test_a_factory_entrypoint_and_a_lume_model_of_every_kind(make_services, tmp_path):
    services = make_services()
    source = counter_source(tmp_path / "counter")
    register_model_version(COUNTER, str(source), name="counter", version="0.1.0", author="A. Physicist", services=services)
    assert services.registry.get_model("counter", _sync=True).author == "A. Physicist"
    services.registry.promote("counter", "0.1.0", _sync=True)
    run = run_model("counter", {"gain": 2.0, "mode": "slow", "mask": np.full((4, 3), 0.5)}, services=services)
    assert run.outputs["count"] == 1 and run.outputs["total"] == 5.0  # reset before the point: one set()
    assert np.array_equal(run.outputs["image"], np.full((4, 3), 2.5))
    assert [ref.path.endswith(".h5") for ref in run.result.files] == [True]  # the ParticleGroup, as openPMD
    with pytest.raises(InvalidInput, match=r"input 'mask' must have shape \(4, 3\), got shape \(3,\)"):
        run_model("counter", {"mask": [1.0, 2.0, 3.0]}, services=services)
    with pytest.raises(InvalidInput, match=r"input 'mode' = 'medium' is not one of \['fast', 'slow'\]"):
        run_model("counter", {"mode": "medium"}, services=services)


def test_a_lume_model_without_name_or_version_is_refused_saying_what_to_give(make_services, torch_source):
    with pytest.raises(ValueError, match="model.yml: a LUME model carries no name or version: give version"):
        register_model_version("model.yml", str(torch_source), name="surrogate", services=make_services(save=False))
    with pytest.raises(TypeError, match="is registered with name and version"):
        register_model_version("surrogate.py:make_surrogate", str(torch_source), services=make_services(save=False))


@pytest.mark.parametrize("validation", ["none", "warn"])
def test_out_of_range_under_warn_runs_and_the_stored_result_records_it(make_services, tmp_path, validation):
    services = make_services()
    register_model_version(COUNTER, str(counter_source(tmp_path / "c", validation)), name="counter", version="0.1.0", services=services)
    run = run_model("counter", {"gain": 12.0}, version="0.1.0", services=services)
    assert run.outputs["total"] == 13.0  # it ran, outside the range
    stored = services.results.get(run.result.key, _sync=True)
    expected = ["input 'gain' = 12.0 is outside its range [0, 10] V"] if validation == "warn" else []
    assert run.result.warnings == stored.warnings == expected


def test_a_scan_of_a_warn_model_records_the_warnings_of_its_points(make_services, tmp_path):
    services = make_services()
    register_model_version(COUNTER, str(counter_source(tmp_path / "c", "warn")), name="counter", version="0.1.0", services=services)
    scan = run_scan("counter", {"gain": [5.0, 12.0]}, version="0.1.0", services=services)
    stored = {r.inputs["gain"]: r.warnings for r in services.results.find(model="counter", _sync=True)}
    assert scan.computed == 2 and stored == {5.0: [], 12.0: ["input 'gain' = 12.0 is outside its range [0, 10] V"]}


def test_a_vectorized_scan_of_a_warn_surrogate_records_each_points_warning(make_services, tmp_path):
    from tests.lume.conftest import TORCH_FACTORY, write_source

    services = make_services()
    source = write_source(tmp_path / "warn", {"surrogate.py": TORCH_FACTORY.format(validation="warn")})
    register_model_version("surrogate.py:make_surrogate", str(source), name="warned", version="1.0.0", services=services)
    points = [{"x": x, PV: 0.5} for x in (0.5, 1.5, -0.25, 1.0)]
    scan = run_scan("warned", points, version="1.0.0", services=services, progress=False)
    assert (scan.computed, scan.failed, scan.batches) == (4, 0, 1)  # one call of the surrogate on all four
    assert list(scan.frame["outputs.y"]) == pytest.approx([y(p["x"], 0.5) for p in points])  # out of range, it ran
    stored = services.results.store().get_many(scan.keys)
    assert [stored[key].warnings for key in scan.keys] == [
        [], ["input 'x' = 1.5 is outside its range [0, 1] m"], ["input 'x' = -0.25 is outside its range [0, 1] m"], [],
    ]




def test_a_particle_group_input_is_keyed_by_its_content_and_stored_with_the_result(make_services, tmp_path):
    from tests.files.test_openpmd import particles
    from tests.lume.conftest import write_source

    services = make_services()
    source = write_source(tmp_path / "drift", {"drift.py": DRIFT})
    register_model_version("drift.py:make_drift", str(source), name="drift", version="1.0.0", services=services)
    beam = particles()
    run = run_model("drift", {"beam": beam, "length": 2.0}, version="1.0.0", services=services)
    assert run.outputs["mean_x"] == pytest.approx(float(np.mean(beam.x + 2.0 * beam.px / beam.pz))) and not run.cached
    stored = services.results.get(run.result.key, _sync=True)
    assert type(stored.inputs["beam"]).__name__ == "ParticleGroup" and stored.inputs["beam"] == beam  # read back as particles
    assert stored.inputs["length"] == 2.0 and stored.files == []  # the input is in the result, not a file
    again = run_model("drift", {"beam": particles(), "length": 2.0}, version="1.0.0", services=services)
    assert again.cached and again.result.key == run.result.key  # equal particles, another object: the same input
    other = run_model("drift", {"beam": particles(seed=2), "length": 2.0}, version="1.0.0", services=services)
    assert not other.cached and other.result.key != run.result.key
    assert reproduce(run.result.key, services=services).matches  # rerun from the stored particles

    scan = run_scan("drift", [{"beam": particles(seed=seed), "length": 1.0} for seed in (1, 2, 3)], version="1.0.0",
                    services=services, executor="processes", workers=2, progress=False)
    assert (scan.computed, scan.failed) == (3, 0)
    kept = services.results.store().get_many(scan.keys)
    assert [kept[key].inputs["beam"] == particles(seed=seed) for key, seed in zip(scan.keys, (1, 2, 3))] == [True] * 3
    with pytest.raises(InvalidInput, match=r"model 'drift': input 'beam' must be particles, got str"):
        run_model("drift", {"beam": "beam.h5"}, version="1.0.0", services=services)
