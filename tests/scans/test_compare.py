"""compare_models: a surrogate against its physics model on the same points, through run_scan,
the session's Prefect API and SQLite stores."""

from __future__ import annotations

import math
import uuid
from pathlib import Path

import numpy
import pytest

from lume_prefect import compare_models
from lume_prefect.scans import InvalidPoints, NothingToCompare, UnitMismatch
from lume_prefect.scans.compare import model_ref
from lume_prefect.scans.differences import compare_values
from tests.models.conftest import temp_services

PHYSICS = '''
"""Thin-lens quadrupole: the focal length, the beam size along the magnet and a label; fails at k1 = 4.5."""

import numpy as np

from lume_prefect.models import ModelSpec

spec = ModelSpec(
    name="{name}", version="1.0.0", author="tests", laboratory="test", facility="test", beampath="test",
    inputs=[{{"name": "k1", "range": [-5.0, 5.0], "units": "1/m^2", "default": 1.0}},
            {{"name": "length", "range": [0.01, 2.0], "units": "m", "default": 0.1}}],
    outputs=[{{"name": "focal_length", "units": "m"}}, {{"name": "sigma", "type": "array", "units": "mm"}},
             {{"name": "label", "type": "str"}}, {{"name": "phase_advance", "units": "rad"}}],
)


@spec.flow
def physics(k1: float, length: float) -> dict:
    if k1 == 4.5:
        raise ValueError(f"unstable lattice at k1={{k1}}")
    return {{"focal_length": 1.0 / (k1 * length), "sigma": np.abs(1.0 - k1 * length * np.linspace(0.0, 1.0, {cells})),
            "label": "quad", "phase_advance": k1 * length}}
'''

SURROGATE = '''
"""A surrogate of the quadrupole: the focal length {error:.0%} too long, the beam size, a confidence."""

import numpy as np

from lume_prefect.models import ModelSpec

spec = ModelSpec(
    name="{name}", version="1.0.0", author="tests", laboratory="test", facility="test", beampath="test",
    inputs=[{{"name": "k1", "range": [-5.0, 5.0], "units": "1/m^2", "default": 1.0}},
            {{"name": "length", "range": [0.01, 0.5], "units": "m", "default": 0.1}}],
    outputs=[{{"name": "focal_length", "units": "{units}"}}, {{"name": "sigma", "type": "array", "units": "mm"}},
             {{"name": "label", "type": "str"}}, {{"name": "confidence"}}],
)


@spec.flow
def surrogate(k1: float, length: float) -> dict:
    return {{"focal_length": (1.0 + {error}) / (k1 * length), "sigma": np.abs(1.0 - k1 * length * np.linspace(0.0, 1.0, 8)),
            "label": "quad", "confidence": 0.9}}
'''


def register(services, tmp_path: Path, code: str, function: str, **values) -> str:
    from lume_prefect.models.deploy import register_model_version

    name = f"{function}-{uuid.uuid4().hex[:6]}"
    source = tmp_path / name
    source.mkdir()
    (source / "model.py").write_text(code.format(name=name, **values))
    register_model_version(f"model.py:{function}", str(source), services=services)
    services.registry.promote(name, "1.0.0", _sync=True)
    return name


@pytest.fixture
def quads(tmp_path):
    """(services, surrogate, physics): saved services with both models live."""
    from lume_prefect.services import LumeServices

    block = f"compare-services-{uuid.uuid4().hex[:8]}"
    temp_services(tmp_path / "services").save(block, _sync=True)
    services = LumeServices.load(block, _sync=True)
    physics = register(services, tmp_path, PHYSICS, "physics", cells=8)
    surrogate = register(services, tmp_path, SURROGATE, "surrogate", error=0.02, units="m")
    return services, surrogate, physics


@pytest.mark.prefect
def test_a_surrogate_against_physics_output_by_output_then_from_the_cache(quads):
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import ArtifactFilter, ArtifactFilterFlowRunId

    services, surrogate, physics = quads
    grid = {"k1": [1.0, 2.0, 3.0, 4.5]}
    comparison = compare_models(surrogate, f"{physics}@1.0.0", grid, services=services, progress=False)

    assert comparison.a == f"{surrogate} 1.0.0" and comparison.b == f"{physics} 1.0.0"
    assert comparison.compared == ["focal_length", "sigma", "label"]
    assert set(comparison.skipped) == {"confidence", "phase_advance"}
    assert "only" in comparison.skipped["confidence"] and surrogate in comparison.skipped["confidence"]
    frame = comparison.frame
    assert len(frame) == 4 * 3 and list(frame.columns[:2]) == ["point", "inputs.k1"]
    focal = frame[frame["output"] == "focal_length"].set_index("point")
    for point, k1 in enumerate(grid["k1"][:3]):
        expected_b = 1.0 / (k1 * 0.1)
        assert focal.loc[point, "b"] == pytest.approx(expected_b)
        assert focal.loc[point, "difference"] == pytest.approx(focal.loc[point, "a"] - expected_b)
        assert focal.loc[point, "relative_difference"] == pytest.approx(0.02)
    failed = focal.loc[3]  # the physics model fails there: no difference, and why
    assert math.isnan(failed["difference"]) and failed["error"].startswith("failed in B: ValueError: unstable lattice")
    sigma = frame[frame["output"] == "sigma"]
    assert sigma["difference"].iloc[:3].tolist() == [0.0, 0.0, 0.0] and sigma["equal"].iloc[:3].all()
    assert frame[frame["output"] == "label"]["equal"].iloc[:3].all()

    summary = comparison.summary
    assert summary.loc["focal_length", "units"] == "m" and summary.loc["sigma", "units"] == "mm"
    assert summary.loc["focal_length", ["points", "compared", "equal"]].tolist() == [4, 3, 0]
    assert summary.loc["focal_length", "max_abs_relative"] == pytest.approx(0.02)
    assert summary.loc["focal_length", "max_abs_difference"] == pytest.approx(0.02 * 10.0)  # at k1 = 1, f = 10 m
    assert summary.loc["label", "equal"] == 3 and math.isnan(summary.loc["label", "mean_difference"]) and summary.loc["label", "units"] is None

    assert (comparison.scan_a.computed, comparison.scan_b.computed, comparison.scan_b.failed) == (4, 3, 1)
    store = services.results.store()
    assert store.count(tags=[comparison.tag]) == 7  # both scans' results, findable by the comparison's tag
    with get_client(sync_client=True) as client:
        artifacts = client.read_artifacts(artifact_filter=ArtifactFilter(flow_run_id=ArtifactFilterFlowRunId(any_=[comparison.flow_run_id])))
        scan_run = client.read_flow_run(comparison.scan_a.flow_run_id)
        parent = client.read_task_run(scan_run.parent_task_run_id)
        compare_run = client.read_flow_run(comparison.flow_run_id)
    assert compare_run.flow_id and compare_run.state.is_completed() and parent.flow_run_id == comparison.flow_run_id  # the scans are its subflows
    plot = next(a for a in artifacts if a.key == f"compare-{comparison.compare_id}")
    assert plot.type == "markdown" and "data:image/png;base64," in plot.data and "focal_length" in plot.data
    table = next(a for a in artifacts if a.key == f"compare-{comparison.compare_id}-summary")
    assert {row["output"] for row in (table.data if isinstance(table.data, list) else __import__("json").loads(table.data))} == {"focal_length", "sigma", "label"}

    again = compare_models(surrogate, physics, grid, services=services, outputs=["focal_length"], progress=False, plot=False)
    assert (again.scan_a.cached, again.scan_b.cached, again.scan_a.computed) == (4, 3, 0)
    assert again.compared == ["focal_length"] and again.skipped == {}
    assert again.frame["difference"].tolist()[:3] == comparison.frame[comparison.frame["output"] == "focal_length"]["difference"].tolist()[:3]


@pytest.mark.prefect
def test_units_that_differ_are_refused_before_anything_runs(quads, tmp_path):
    services, _, physics = quads
    in_mm = register(services, tmp_path, SURROGATE, "surrogate", error=0.0, units="mm")
    with pytest.raises(UnitMismatch, match=r"output 'focal_length' is in mm in surrogate-\w+ 1.0.0 but in m in physics") as caught:
        compare_models(in_mm, physics, {"k1": [1.0, 2.0]}, services=services)
    assert caught.value.output == "focal_length" and "outputs=" in str(caught.value)
    assert services.results.store().count() == 0
    comparison = compare_models(in_mm, physics, {"k1": [1.0, 2.0]}, services=services, outputs=["sigma", "label"], plot=False, progress=False)
    assert comparison.compared == ["sigma", "label"]


@pytest.mark.prefect
def test_points_one_model_refuses_and_outputs_it_lacks_are_refused_before_anything_runs(quads):
    services, surrogate, physics = quads
    with pytest.raises(InvalidPoints, match=r"length = 1.0 is outside its range \[0.01, 0.5\]") as caught:
        compare_models(physics, surrogate, {"k1": [1.0], "length": [0.2, 1.0]}, services=services)
    assert caught.value.model == surrogate
    with pytest.raises(NothingToCompare, match=rf"'confidence' \(not an output of {physics} 1.0.0\)"):
        compare_models(surrogate, physics, {"k1": [1.0]}, services=services, outputs=["focal_length", "confidence"])
    with pytest.raises(TypeError, match="unknown options colour"):
        compare_models(surrogate, physics, {"k1": [1.0]}, services=services, colour="red")
    assert services.results.store().count() == 0


@pytest.mark.prefect
def test_arrays_of_different_shapes_are_named_not_compared(quads, tmp_path):
    services, surrogate, _ = quads
    coarse = register(services, tmp_path, PHYSICS, "physics", cells=4)
    comparison = compare_models(surrogate, coarse, {"k1": [1.0, 2.0]}, services=services, outputs=["sigma"], progress=False)
    assert comparison.frame["error"].tolist() == ["shapes differ: (8,) (A) vs (4,) (B)"] * 2
    assert comparison.summary.loc["sigma", "compared"] == 0


@pytest.mark.unit
def test_values_compare_as_numbers_arrays_or_for_equality():
    assert compare_values(3.0, 2.0) == (1.0, 0.5, False, None)
    assert compare_values(0.0, 0.0)[:3] == (0.0, 0.0, True)
    assert compare_values(1.0, 0.0)[1] == math.inf
    difference, relative, equal, error = compare_values(numpy.array([1.0, 2.0, 4.0]), [1.0, 2.0, 2.0])
    assert (difference, equal, error) == (2.0, False, None) and relative == pytest.approx(2.0 / 3.0)
    assert compare_values(numpy.ones((2, 2)), numpy.ones(4))[3] == "shapes differ: (2, 2) (A) vs (4,) (B)"
    different = compare_values("a", "b")
    assert math.isnan(different[0]) and different[2] is False
    assert compare_values(True, True)[2] is True and math.isnan(compare_values(True, False)[0])


@pytest.mark.unit
def test_models_are_named_with_an_optional_version():
    assert model_ref("toy-beam") == ("toy-beam", None)
    assert model_ref("toy-beam@1.1.0") == ("toy-beam", "1.1.0")
    assert model_ref(("toy-beam", "1.0")) == ("toy-beam", "1.0")
    for bad in ("", "toy-beam@", 3, ("toy-beam",)):
        with pytest.raises(ValueError, match="a name, 'name@version' or \\(name, version\\)"):
            model_ref(bad)


@pytest.mark.prefect
def test_the_compare_command_on_a_grid_and_on_a_file_of_points(quads, tmp_path):
    import json
    import os
    import subprocess
    import sys

    import pandas
    from prefect.settings import PREFECT_API_URL

    services, surrogate, physics = quads
    env = {**os.environ, "PREFECT_API_URL": PREFECT_API_URL.value(), "LUME_SERVICES": services._block_document_name, "PREFECT_LOGGING_LEVEL": "WARNING"}
    env.pop("PREFECT_TEST_MODE", None)

    def lume(*args: str) -> subprocess.CompletedProcess:
        return subprocess.run([sys.executable, "-m", "lume_prefect.cli", *args], capture_output=True, text=True, env=env, timeout=180)

    differences = tmp_path / "differences.csv"
    first = lume("compare", surrogate, f"{physics}@1.0.0", "--grid", "k1=1:3:3", "--grid", "length=0.1,0.2", "--json", "--output", str(differences))
    assert first.returncode == 0, first.stderr
    report = json.loads(first.stdout)
    assert (report["a"], report["b"], report["points"]) == (f"{surrogate} 1.0.0", f"{physics} 1.0.0", 6)
    outputs = {row["output"]: row for row in report["outputs"]}
    assert set(outputs) == {"focal_length", "sigma", "label"} and outputs["focal_length"]["max_abs_relative"] == pytest.approx(0.02)
    assert set(report["skipped"]) == {"confidence", "phase_advance"} and report["scans"]["b"]["computed"] == 6
    written = pandas.read_csv(differences)
    assert len(written) == 18 and {"inputs.k1", "inputs.length", "output", "difference", "relative_difference"} <= set(written.columns)

    points = tmp_path / "points.csv"
    pandas.DataFrame({"k1": [1.0, 2.5], "length": [0.1, 0.1]}).to_csv(points, index=False)
    table = lume("compare", surrogate, physics, "--points", str(points), "--outputs", "focal_length,label")
    assert table.returncode == 0, table.stderr
    rows = {line.split("│")[1].strip(): [cell.strip() for cell in line.split("│")[2:-1]] for line in table.stdout.splitlines() if line.startswith("│")}
    assert rows["focal_length"][:3] == ["m", "2/2", "0"] and float(rows["focal_length"][-1]) == pytest.approx(0.02)
    assert rows["label"][:3] == ["", "0/2", "2"] and "sigma" not in rows
    assert "A: 1 cached, 1 computed, 0 failed" in table.stdout and "plot: artifact compare-" in table.stdout

    refused = lume("compare", surrogate, physics, "--grid", "k1=1,2", "--outputs", "confidence")
    assert refused.returncode == 1 and f"'confidence' (not an output of {physics} 1.0.0)" in refused.stderr
    neither = lume("compare", surrogate, physics)
    assert neither.returncode == 1 and "give either --grid" in neither.stderr
