"""ParticleGroup inputs of LUME models run in other processes, on a real `prefect server start`:
a deployed version run by a real process worker (``run_model``, ``run_scan(executor=
"deployment")``), where the beam travels as the FileRef of its openPMD file in the services'
file block and the Result comes back keyed by the beam's content, as in-process; and a
vectorized LUMEModel's batches of beams on a process pool, the real Slurm cluster and the worker."""

from __future__ import annotations

import uuid

import pytest

from lume_prefect.files import FileRef, LocalFiles
from lume_prefect.models import InvalidInput
from lume_prefect.models.deploy import deploy_model
from lume_prefect.models.run import run_model, wait_for_flow_run
from lume_prefect.results.codec import result_key, result_keys, value_key
from lume_prefect.scans import run_scan
from lume_prefect.services import LumeServices
from tests.lume.conftest import write_source
from tests.lume.particle_models import BATCHED_DRIFT, DRIFT, SETTINGS, check_batched_scan, drifted_mean_x, particles
from tests.models.conftest import temp_services
from tests.models.test_deployments import pool_name, worker  # noqa: F401 - the module's pool and its real worker
from tests.scans.test_executors import slurm_options

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def deployed(real_api, worker, pool_name, tmp_path_factory):  # noqa: F811
    """Saved remote-mode services with drift 1.0.0 and the vectorized batched-drift 1.0.0 deployed."""
    home = tmp_path_factory.mktemp("particles")
    name = f"particles-{uuid.uuid4().hex[:6]}"
    temp_services(home / "services", run_mode="remote", work_pool=pool_name).save(name, _sync=True)
    drift = write_source(home / "drift", {"drift.py": DRIFT})
    batched = write_source(home / "batched", {"drift.py": BATCHED_DRIFT})
    # the session's Prefect server is shared by test modules, each with its own services: take over
    # the version's deployment should another module's services own it (DeploymentOfOtherServices)
    deploy_model("drift.py:make_drift", str(drift), services=name, name="drift", version="1.0.0", replace=True)
    deploy_model("drift.py:make_drift", str(batched), services=name, name="batched-drift", version="1.0.0", vectorized=True)
    return name


def flow_run_parameters(flow_run_id) -> dict:
    from prefect.client.orchestration import get_client

    with get_client(sync_client=True) as client:
        return client.read_flow_run(flow_run_id).parameters


def test_a_beam_travels_to_the_worker_as_a_fileref_and_the_result_is_keyed_as_in_process(deployed, tmp_path):
    services = LumeServices.load(deployed, _sync=True)
    beam = particles(seed=11)
    run = run_model("drift", {"beam": beam, "length": 2.0}, version="1.0.0", services=deployed, timeout=240)

    assert run.mode == "remote" and run.outputs["mean_x"] == pytest.approx(drifted_mean_x(beam, 2.0))
    assert run.result.key == result_key("drift", "1.0.0", {"beam": particles(seed=11), "length": 2.0})  # the beam's content
    assert type(run.result.inputs["beam"]).__name__ == "ParticleGroup" and run.result.inputs["beam"] == beam
    # what the flow run's parameters carry: the FileRef of the beam's openPMD file, named by its content
    ref = FileRef.model_validate(flow_run_parameters(run.flow_run_id)["beam"])
    assert (ref.serializer, ref.path) == ("openpmd", f"lume-inputs/particles/{value_key(beam)}.h5")
    assert services.files.read_ref(ref, _sync=True) == beam
    # the same beam, another object, in this process: the worker's result, by the same key
    here = run_model("drift", {"beam": particles(seed=11), "length": 2.0}, version="1.0.0", services=deployed, mode="in-process")
    assert here.cached and here.result.flow_run_id == run.flow_run_id

    # a FileRef the user wrote: read here for the key, the worker reads the same particles
    given = services.files.write("beams/gun.h5", particles(seed=12), _sync=True)
    by_ref = run_model("drift", {"beam": given, "length": 1.0}, version="1.0.0", services=deployed, timeout=240)
    assert by_ref.mode == "remote" and by_ref.result.key == result_key("drift", "1.0.0", {"beam": particles(seed=12), "length": 1.0})
    assert by_ref.result.inputs["beam"] == particles(seed=12)
    # given to the worker as it is, the file in the services' block: no transport copy
    assert flow_run_parameters(by_ref.flow_run_id)["beam"] == given.model_dump(mode="json")
    assert not services.files.exists(f"lume-inputs/particles/{value_key(particles(seed=12))}.h5", _sync=True)
    # a file of another block (which the workers may not see): copied into the services' block
    other = LocalFiles(basepath=str(tmp_path / "elsewhere"))
    other.save(f"elsewhere-{uuid.uuid4().hex[:6]}", _sync=True)
    elsewhere = other.write("beams/gun.h5", particles(seed=13), _sync=True)
    copied = run_model("drift", {"beam": elsewhere, "length": 1.0}, version="1.0.0", services=deployed, timeout=240)
    assert copied.result.inputs["beam"] == particles(seed=13)
    ref = FileRef.model_validate(flow_run_parameters(copied.flow_run_id)["beam"])
    assert ref.path == f"lume-inputs/particles/{value_key(particles(seed=13))}.h5" and ref.block == services.files._ref_name()


def test_the_run_form_of_a_beam_is_a_fileref_and_a_run_given_one_stores_the_particles(deployed):
    """What the Prefect UI renders (the deployment's parameter schema) and sends (a dict of the
    form's fields, the optional ones left out); and a deployment whose schema predates it ({})."""
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.actions import DeploymentUpdate
    from prefect.deployments import run_deployment

    services = LumeServices.load(deployed, _sync=True)
    with get_client(sync_client=True) as client:
        deployment = client.read_deployment_by_name("drift/1.0.0")
    schema = deployment.parameter_openapi_schema
    beam = schema["properties"]["beam"]
    assert beam["type"] == "object" and set(beam["properties"]) == set(FileRef.model_fields)
    assert beam["required"] == ["path", "serializer", "sha256", "size"] and "openPMD" in beam["description"]

    def run_form(seed: int, length: float):
        ref = services.files.write(f"beams/form-{seed}.h5", particles(seed=seed), _sync=True).model_dump(mode="json")
        form = {k: ref[k] for k in ("path", "serializer", "sha256", "size")}
        flow_run = run_deployment("drift/1.0.0", parameters={"beam": form, "length": length}, timeout=0, _sync=True)
        state = wait_for_flow_run(flow_run.id, 240)
        assert state is not None and state.is_completed(), state
        stored = services.results.get(result_key("drift", "1.0.0", {"beam": particles(seed=seed), "length": length}), _sync=True)
        assert stored.flow_run_id == flow_run.id and stored.inputs["beam"] == particles(seed=seed)
        assert stored.outputs["mean_x"] == pytest.approx(drifted_mean_x(particles(seed=seed), length))

    run_form(41, 1.5)
    with pytest.raises(Exception, match="'serializer' is a required property"):  # the server refuses a half-filled form
        run_deployment("drift/1.0.0", parameters={"beam": {"path": "beams/form-41.h5"}, "length": 1.5}, timeout=0, _sync=True)
    old = {**schema, "properties": {**schema["properties"], "beam": {"title": "beam", "position": 0}}}  # before: {} and a title
    with get_client(sync_client=True) as client:
        client.update_deployment(deployment.id, DeploymentUpdate(parameter_openapi_schema=old))
        try:
            run_form(42, 1.5)
        finally:
            client.update_deployment(deployment.id, DeploymentUpdate(parameter_openapi_schema=schema))


def test_a_deployment_run_given_a_file_that_is_not_particles_fails_naming_the_input(deployed):
    """What the Prefect UI's run form (or run_deployment) can send: a FileRef of any file."""
    from prefect.deployments import run_deployment

    services = LumeServices.load(deployed, _sync=True)
    before = len(services.results.find(model="drift", _sync=True))
    table = services.files.write("beams/table.json", {"x": [1.0]}, _sync=True)
    flow_run = run_deployment("drift/1.0.0", parameters={"beam": table.model_dump(mode="json"), "length": 1.0}, timeout=0, _sync=True)
    state = wait_for_flow_run(flow_run.id, 240)
    assert state is not None and state.is_failed()
    assert "input 'beam' = FileRef 'beams/table.json' holds dict (serializer 'json'), not openPMD particles" in state.message
    with pytest.raises(InvalidInput, match="not openPMD particles"):  # refused here before a run is made
        run_model("drift", {"beam": table, "length": 1.0}, version="1.0.0", services=deployed)
    assert len(services.results.find(model="drift", _sync=True)) == before  # nothing stored


def test_a_deployment_scan_of_beams_stores_each_point_under_its_in_process_key(deployed):
    services = LumeServices.load(deployed, _sync=True)
    shared, other = particles(seed=21), particles(seed=22)
    points = [{"beam": shared, "length": 1.0}, {"beam": other, "length": 1.0}, {"beam": shared, "length": 3.0}]
    scan = run_scan("drift", points, version="1.0.0", services=deployed, executor="deployment", batch_size=2, workers=2,
                    timeout=240, progress=False)

    assert (scan.computed, scan.failed, scan.batches) == (3, 0, 2), scan.failures
    assert scan.keys == result_keys("drift", "1.0.0", points)
    stored = services.results.store().get_many(scan.keys)
    for key, point in zip(scan.keys, points):
        assert stored[key].inputs["beam"] == point["beam"]
        assert stored[key].outputs["mean_x"] == pytest.approx(drifted_mean_x(point["beam"], point["length"]))
    assert {f"lume-inputs/particles/{value_key(b)}.h5" for b in (shared, other)} <= set(services.files.ls("lume-inputs/particles", _sync=True))

    # a user's FileRef of a file in the services' block: the batch run is given it, not a copy
    given = services.files.write("beams/scan.h5", particles(seed=23), _sync=True)
    by_ref = run_scan("drift", [{"beam": given, "length": 2.0}], version="1.0.0", services=deployed, executor="deployment",
                      timeout=240, progress=False)
    assert (by_ref.computed, by_ref.failed) == (1, 0), by_ref.failures
    assert services.results.get(by_ref.keys[0], _sync=True).inputs["beam"] == particles(seed=23)
    assert not services.files.exists(f"lume-inputs/particles/{value_key(particles(seed=23))}.h5", _sync=True)


@pytest.mark.parametrize("executor", ["deployment", "processes", "slurm"])
def test_a_vectorized_lume_model_tracks_a_batch_of_beams_in_one_call_elsewhere(deployed, real_api, executor, monkeypatch, tmp_path):
    # the scan's pool processes and Slurm jobs find the saved services on the API in their
    # environment, as a user's do (the deployment's runs: their worker's)
    monkeypatch.setenv("PREFECT_API_URL", real_api.api_url)
    services = LumeServices.load(deployed, _sync=True)
    points = [{"beam": particles(seed=seed), "length": length} for seed, length in SETTINGS]
    options = slurm_options(tmp_path) if executor == "slurm" else {}
    scan = run_scan("batched-drift", points, version="1.0.0", services=deployed, executor=executor, batch_size=2, workers=2,
                    timeout=240 if executor == "deployment" else None, refresh=True, progress=False, **options)
    check_batched_scan(services, scan, points)
    assert scan.batches == 2


@pytest.fixture(scope="module")
def on_slurm(deployed, real_api, tmp_path_factory):
    """drift 2.0.0 deployed on a Slurm pool (deployments/slurm.json, created with the CLI) that a
    real ``lume-slurm`` worker serves: each flow run a job of the machine's Slurm cluster."""
    import os
    import sys
    from pathlib import Path

    from lume_prefect.slurm import SlurmCluster
    from tests.containers.conftest import create_pool, worker
    from tests.slurm.conftest import ensure_slurm_up

    ensure_slurm_up()
    home = tmp_path_factory.mktemp("slurm-particles")
    os.chmod(home, 0o755)
    cluster = f"cluster-{uuid.uuid4().hex[:6]}"
    SlurmCluster(working_dir=str(home), setup=[f". {Path(sys.executable).parent}/activate"], max_poll_interval=1.0).save(cluster, _sync=True)
    pool = create_pool(real_api, "lume-slurm", "slurm.json")
    source = write_source(home / "drift", {"drift.py": DRIFT})
    with worker(real_api, pool, "lume-slurm", tmp_path_factory.mktemp("slurm-worker")):
        deploy_model("drift.py:make_drift", str(source), services=deployed, name="drift", version="2.0.0", work_pool=pool,
                     job_variables={"cluster": cluster, "time_limit": "00:05:00"})
        yield pool


def test_a_beam_given_to_a_version_on_the_slurm_worker_comes_back_keyed_by_its_content(deployed, on_slurm):
    beam = particles(seed=31)
    run = run_model("drift", {"beam": beam, "length": 2.0}, version="2.0.0", services=deployed, timeout=240)
    assert run.mode == "remote" and run.outputs["mean_x"] == pytest.approx(drifted_mean_x(beam, 2.0))
    assert run.result.key == result_key("drift", "2.0.0", {"beam": particles(seed=31), "length": 2.0})
    assert run.result.inputs["beam"] == beam
    from prefect.client.orchestration import get_client

    with get_client(sync_client=True) as client:
        assert client.read_flow_run(run.flow_run_id).work_pool_name == on_slurm
