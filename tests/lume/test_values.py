"""LUME values stored and read back: torch tensors as NumPy arrays (dtype and shape kept),
torch distributions as their documented dict (mean, standard deviation, parameters), and
ParticleGroup outputs of a model run written through the run's file block (openPMD HDF5),
the stored Result keeping the FileRef, and ParticleGroup inputs keyed by content and stored
with the Result. On every results backend (SQLite, PostgreSQL, MariaDB,
the MongoDB wire protocol)."""

from __future__ import annotations

import numpy as np
import pytest

from lume_prefect.results import Result
from tests.results.conftest import mongo_server, store  # noqa: F401 - the stores on every backend

torch = pytest.importorskip("torch")


def test_tensors_and_distributions_are_stored_as_numpy_and_read_back(store):
    image = torch.arange(12, dtype=torch.float32).reshape(3, 4)
    normal = torch.distributions.Normal(torch.tensor([1.0, 2.0], dtype=torch.float64), torch.tensor([0.5, 0.25], dtype=torch.float64))
    result = Result(
        model="surrogate", version="1.0.0",
        inputs={"quad": torch.tensor(1.5, dtype=torch.float64), "image": image},
        outputs={"sigma": torch.tensor([1.0, 2.0], dtype=torch.float16), "charge": torch.tensor(3, dtype=torch.int32), "emittance": normal},
    )
    store.insert(result)
    back = store.get(result.key)

    assert back.inputs["image"].dtype == np.float32 and back.inputs["image"].shape == (3, 4)
    np.testing.assert_array_equal(back.inputs["image"], image.numpy())
    assert back.inputs["quad"] == 1.5 and back.inputs["quad"].dtype == np.float64  # a 0-d tensor: a NumPy scalar
    assert back.outputs["sigma"].dtype == np.float16 and back.outputs["sigma"].tolist() == [1.0, 2.0]
    assert back.outputs["charge"] == 3 and back.outputs["charge"].dtype == np.int32
    emittance = back.outputs["emittance"]
    assert emittance["distribution"] == "Normal"
    np.testing.assert_array_equal(emittance["mean"], [1.0, 2.0])
    np.testing.assert_array_equal(emittance["stddev"], [0.5, 0.25])
    np.testing.assert_array_equal(emittance["parameters"]["scale"], [0.5, 0.25])
    assert set(emittance["parameters"]) == {"loc", "scale"}


def test_a_tensor_input_has_the_key_of_its_numpy_array():
    from lume_prefect.results.codec import result_key

    assert result_key("m", "1", {"x": torch.tensor([1.0, 2.0])}) == result_key("m", "1", {"x": np.array([1.0, 2.0], dtype=np.float32)})
    assert result_key("m", "1", {"x": torch.tensor([1.0, 2.0])}) != result_key("m", "1", {"x": np.array([1.0, 2.0])})


def test_a_distribution_without_a_mean_keeps_what_it_has():
    transformed = torch.distributions.TransformedDistribution(torch.distributions.Normal(0.0, 1.0), [torch.distributions.ExpTransform()])
    result = Result(model="m", version="1", outputs={"d": transformed})
    assert result.outputs["d"] is transformed
    assert result.stored_form()[1]["d"] == {"distribution": "TransformedDistribution", "parameters": {}}


def test_a_particle_group_in_a_result_is_keyed_by_its_content_stored_as_openpmd_and_read_back(store):
    beamphysics = pytest.importorskip("beamphysics")
    from tests.files.test_openpmd import particles

    result = Result(model="tracker", version="1", inputs={"beam": particles(), "length": 2.0}, outputs={"y": 1.0})
    assert result.key == Result(model="tracker", version="1", inputs={"beam": particles(), "length": 2.0}).key  # equal particles
    assert result.key != Result(model="tracker", version="1", inputs={"beam": particles(seed=2), "length": 2.0}).key
    assert result.stored_form()[0]["beam"] == {"__lume__": "particles", "blob": 0}
    store.insert(result)
    back = store.get(result.key).inputs["beam"]
    assert isinstance(back, beamphysics.ParticleGroup) and back == particles() and back["sigma_x"] == particles()["sigma_x"]


PARTICLE_MODEL = '''
import numpy as np
import torch
from beamphysics import ParticleGroup

from lume_prefect.models import ModelSpec

spec = ModelSpec(name="{name}", version="1.0.0", author="tests", laboratory="test", facility="test", beampath="test",
                 inputs=[{{"name": "sigma_x", "range": [1e-6, 1e-2], "default": 1e-3}}],
                 outputs=[{{"name": "beam", "type": "any"}}, {{"name": "sigma"}}, {{"name": "profile", "type": "any"}}, {{"name": "fit", "type": "any"}}])


@spec.flow
def beamline(sigma_x: float) -> dict:
    rng = np.random.default_rng(0)
    count = 100
    beam = ParticleGroup(data={{"x": rng.normal(0, sigma_x, count), "px": np.zeros(count), "y": np.zeros(count), "py": np.zeros(count),
                               "z": np.zeros(count), "pz": np.full(count, 1e8), "t": np.zeros(count), "status": np.ones(count),
                               "weight": np.full(count, 1e-15), "species": "electron"}})
    return {{"beam": beam, "sigma": torch.tensor(beam["sigma_x"]), "profile": torch.ones(4, 2, dtype=torch.float32),
            "fit": torch.distributions.Normal(torch.tensor(sigma_x), torch.tensor(sigma_x / 10))}}
'''


@pytest.mark.prefect
def test_a_model_runs_particle_group_is_written_through_its_file_block_and_the_result_keeps_the_ref(tmp_path):
    beamphysics = pytest.importorskip("beamphysics")
    from lume_prefect import run_model
    from lume_prefect.files import read_ref
    from tests.scans.conftest import services_with_live_code

    services, model = services_with_live_code(tmp_path, PARTICLE_MODEL, "beamline")
    run = run_model(model, {"sigma_x": 2e-3}, services=services)

    stored = services.results.get(run.result.key, _sync=True)
    [ref] = stored.files
    assert ref.serializer == "openpmd" and ref.path == f"{model}/1.0.0/{run.result.key[:16]}/beam.h5"
    assert stored.outputs["beam"]["path"] == ref.path  # the output is the FileRef, as JSON
    beam = read_ref(ref, services.files)
    assert isinstance(beam, beamphysics.ParticleGroup) and beam["sigma_x"] == pytest.approx(stored.outputs["sigma"])
    assert stored.outputs["profile"].dtype == np.float32 and stored.outputs["profile"].shape == (4, 2)
    assert stored.outputs["fit"]["mean"] == pytest.approx(2e-3) and stored.outputs["fit"]["stddev"] == pytest.approx(2e-4)


VECTORIZED_GP = '''
import torch

from lume_prefect.models import ModelSpec

spec = ModelSpec(name="{name}", version="1.0.0", author="tests", laboratory="test", facility="test", beampath="test", vectorized=True,
                 inputs=[{{"name": "x", "range": [-1, 1]}}], outputs=[{{"name": "y", "type": "any"}}, {{"name": "image", "type": "any"}}])


@spec.flow
def gp(x) -> dict:
    x = torch.as_tensor(x, dtype=torch.float64)
    return {{"y": torch.distributions.Normal(2 * x, 0.1 + x.abs()), "image": torch.stack([torch.full((2, 2), float(v)) for v in x])}}
'''


@pytest.mark.prefect
def test_a_vectorized_models_distribution_is_split_per_point(tmp_path):
    from lume_prefect import run_scan
    from tests.scans.conftest import services_with_live_code

    services, model = services_with_live_code(tmp_path, VECTORIZED_GP, "gp")
    scan = run_scan(model, {"x": [-0.5, 0.0, 0.5]}, services=services, progress=False)

    assert scan.computed == 3
    assert list(scan.frame["outputs.y.mean"]) == pytest.approx([-1.0, 0.0, 1.0])
    assert list(scan.frame["outputs.y.stddev"]) == pytest.approx([0.6, 0.1, 0.6])
    assert set(scan.frame["outputs.y.distribution"]) == {"Normal"}
    last = services.results.store().get(scan.keys[2])
    assert last.outputs["y"]["parameters"]["loc"] == pytest.approx(1.0)
    assert last.outputs["image"].shape == (2, 2) and last.outputs["image"].dtype == np.float32
