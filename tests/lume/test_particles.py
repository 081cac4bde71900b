"""ParticleGroup inputs of LUME models on this machine's executors: a vectorized LUMEModel
called once per batch of points that each carry their own beam, the outputs (a ParticleGroup
among them) split back per point under the keys a single run computes; and the FileRef of an
openPMD file given as the input, keyed by the particles it holds."""

from __future__ import annotations

import pytest

from lume_prefect.files import FileRef
from lume_prefect.models import InvalidInput
from lume_prefect.models.deploy import register_model_version
from lume_prefect.models.run import run_model
from lume_prefect.results.codec import result_key
from lume_prefect.scans import run_scan
from tests.lume.conftest import write_source
from tests.lume.particle_models import BATCHED_DRIFT, DRIFT, SETTINGS, check_batched_scan, particles

pytestmark = pytest.mark.prefect


@pytest.fixture
def batched(make_services, tmp_path):
    """Services with the batched drift registered as vectorized (batched-drift 1.0.0) and the
    same model called point by point (batched-drift 1.1.0)."""
    services = make_services()
    source = write_source(tmp_path / "batched", {"drift.py": BATCHED_DRIFT})
    register_model_version("drift.py:make_drift", str(source), name="batched-drift", version="1.0.0", vectorized=True, services=services)
    register_model_version("drift.py:make_drift", str(source), name="batched-drift", version="1.1.0", vectorized=False, services=services)
    return services


def test_a_vectorized_lume_model_gets_one_beam_per_point_in_one_call(batched):
    """In this process (a process pool, Slurm and deployment runs: test_particles_deployment)."""
    points = [{"beam": particles(seed=seed), "length": length} for seed, length in SETTINGS]
    scan = run_scan("batched-drift", points, version="1.0.0", services=batched, batch_size=2, progress=False)
    check_batched_scan(batched, scan, points)

    # a single run of a point finds what the batch stored (the same key), and a new point runs alone
    single = run_model("batched-drift", points[1], version="1.0.0", services=batched)
    assert single.cached and single.result.key == scan.keys[1] == result_key("batched-drift", "1.0.0", points[1])
    alone = run_model("batched-drift", {"beam": particles(seed=9), "length": 1.0}, version="1.0.0", services=batched)
    assert not alone.cached and alone.outputs["batch"] == 1.0
    # the same model called point by point gives the same outputs
    stored = batched.results.store().get_many(scan.keys)
    for point, key in zip(points, scan.keys):
        by_point = run_model("batched-drift", point, version="1.1.0", services=batched)
        assert by_point.outputs["mean_x"] == pytest.approx(stored[key].outputs["mean_x"]) and by_point.outputs["batch"] == 1.0


def test_a_batch_whose_beam_the_model_refuses_is_evaluated_point_by_point(batched):
    """A point the model refuses (lume-base's own check: a ParticleGroup, not a dict) fails alone."""
    points = [{"beam": particles(seed=1), "length": 1.0}, {"beam": {"x": [0.0]}, "length": 1.0}]  # a dict passes our check
    scan = run_scan("batched-drift", points, version="1.0.0", services=batched, batch_size=2, progress=False)
    assert (scan.computed, scan.failed) == (1, 1)
    assert scan.failures[0].index == 1 and "Value must be of type ParticleGroup" in scan.failures[0].message
    assert scan.frame["outputs.batch"].iloc[0] == 1.0  # the good point, tracked alone after the batch raised


def test_the_fileref_of_an_openpmd_file_is_keyed_by_the_particles_it_holds(make_services, tmp_path):
    services = make_services()
    source = write_source(tmp_path / "drift", {"drift.py": DRIFT})
    register_model_version("drift.py:make_drift", str(source), name="drift", version="1.0.0", services=services)
    ref = services.files.write("beams/gun.h5", particles(seed=3), _sync=True)

    run = run_model("drift", {"beam": ref, "length": 2.0}, version="1.0.0", services=services)
    assert run.result.key == result_key("drift", "1.0.0", {"beam": particles(seed=3), "length": 2.0})
    assert run.result.inputs["beam"] == particles(seed=3)  # the particles, not where they were
    assert run_model("drift", {"beam": particles(seed=3), "length": 2.0}, version="1.0.0", services=services).cached
    as_json = run_model("drift", {"beam": ref.model_dump(mode="json"), "length": 2.0}, version="1.0.0", services=services)
    assert as_json.cached  # its JSON form (a deployment run's parameter, a YAML file) alike
    scan = run_scan("drift", [{"beam": ref, "length": 2.0}, {"beam": ref, "length": 3.0}], version="1.0.0", services=services, progress=False)
    assert (scan.cached, scan.computed) == (1, 1)

    table = services.files.write("beams/table.json", {"x": [1.0]}, _sync=True)
    with pytest.raises(InvalidInput, match=r"input 'beam' = FileRef 'beams/table.json' holds dict \(serializer 'json'\), not openPMD particles"):
        run_model("drift", {"beam": table, "length": 2.0}, version="1.0.0", services=services)
    services.files.write("beams/gun.h5", particles(seed=4), _sync=True)  # the file changed since the ref was taken
    from lume_prefect.files.errors import ChecksumMismatch

    with pytest.raises(ChecksumMismatch):
        run_model("drift", {"beam": ref, "length": 5.0}, version="1.0.0", services=services)
    assert len(services.results.find(model="drift", _sync=True)) == 2  # the refused runs stored nothing
