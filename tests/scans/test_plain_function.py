"""A model's plain function: reachable from its flow, validated the same way on every path."""

from __future__ import annotations

import sys

import pytest

from lume_prefect.models import InvalidInput, InvalidOutput, ModelSpec

SPEC = ModelSpec(
    name="lens", version="1.0.0",
    inputs=[{"name": "k1", "range": [-5, 5]}, {"name": "length", "default": 0.1, "range": [0.01, 2.0]}],
    outputs=[{"name": "f"}],
)


def lens(k1: float, length: float) -> dict:
    return {"f": 1.0 / (k1 * length)} if k1 else {"nothing": 0}


MODEL = SPEC.flow(lens)


@pytest.mark.unit
def test_the_flow_keeps_the_plain_function_and_evaluates_without_prefect():
    assert MODEL.lume_function is lens and MODEL.lume_spec is SPEC
    assert MODEL.evaluate(k1=2) == {"f": 5.0}  # the default length filled in, the int converted
    with pytest.raises(InvalidInput, match=r"input 'k1' = 9.0 is outside its range \[-5, 5\]"):
        MODEL.evaluate(k1=9.0)
    with pytest.raises(InvalidInput, match="input 'colour' is not an input"):
        MODEL.evaluate(k1=1.0, colour="red")
    with pytest.raises(InvalidOutput, match="declared outputs missing from the returned dict: f"):
        MODEL.evaluate(k1=0.0)


@pytest.mark.unit
def test_check_inputs_reports_every_problem_and_validate_inputs_the_first():
    values, problems = SPEC.check_inputs({"length": 7.0, "colour": "red"})
    assert [(p.variable, p.problem.split(" ")[0]) for p in problems] == [("colour", "is"), ("k1", "is"), ("length", "=")]
    with pytest.raises(InvalidInput) as caught:
        SPEC.validate_inputs({"length": 7.0, "colour": "red"})
    assert caught.value.variable == "colour"
    assert SPEC.check_inputs({"k1": 1}) == ({"k1": 1.0, "length": 0.1}, [])


@pytest.mark.prefect
def test_a_flow_run_and_the_plain_function_give_the_same_outputs(tmp_path, monkeypatch):
    from lume_prefect.results import RESULTS_STORE_ENV

    monkeypatch.setenv(RESULTS_STORE_ENV, "none")  # the flow run stores nothing here: only the outputs matter
    result = MODEL(k1=2.0, length=0.5)
    assert result.outputs == MODEL.evaluate(k1=2.0, length=0.5) == {"f": 1.0}
    with pytest.raises(InvalidInput, match="outside its range"):
        MODEL(k1=9.0)


@pytest.mark.unit
def test_a_worker_loads_the_model_function_without_building_its_flow(tmp_path):
    from lume_prefect.models.plain import PlainModel, load_model_function
    from lume_prefect.scans.batch import worker_function
    from tests.scans.conftest import write_quad

    source = write_quad(tmp_path / "quad", "quad-plain")
    spec, fn = load_model_function("model.py:quad", str(source))
    assert (spec.name, fn.__name__) == ("quad-plain", "quad")
    module = sys.modules[fn.__module__]
    assert fn.__module__.startswith("lume_model_") and isinstance(module.quad, PlainModel)  # a private module name
    assert module.quad.evaluate(k1=2.0, length=0.5) == {"focal_length": 1.0, "beam": pytest.approx(0.5)}
    assert load_model_function("model.py:quad", str(source)) == (spec, fn)  # imported once per process
    outputs, files = worker_function("model.py:quad", str(source))({"k1": 2.0, "length": 0.5, "label": "q"})
    assert outputs["focal_length"] == 1.0 and files == []

    package = tmp_path / "pkgs" / "plainpkg"  # a module entrypoint, found on the source directory
    package.mkdir(parents=True)
    (package / "__init__.py").write_text("")
    (package / "model.py").write_text((source / "model.py").read_text().replace("quad-plain", "quad-module"))
    spec, fn = load_model_function("plainpkg.model:quad", str(tmp_path / "pkgs"))
    assert spec.name == "quad-module" and isinstance(sys.modules["plainpkg.model"].quad, PlainModel)


@pytest.mark.unit
def test_a_model_that_uses_its_flow_while_imported_is_loaded_as_the_flow(tmp_path):
    from lume_prefect.models.errors import FlowNeeded
    from lume_prefect.models.plain import load_model_function
    from lume_prefect.scans.batch import worker_function
    from tests.scans.conftest import write_quad

    source = write_quad(tmp_path / "quad", "quad-options")
    with open(source / "model.py", "a") as file:
        file.write("\nquick = quad.with_options(name='quad-quick')\n")
    with pytest.raises(FlowNeeded, match="model 'quad-options' version '1.0.0' is loaded without its flow, which has 'with_options'"):
        load_model_function("model.py:quad", str(source))
    outputs, _ = worker_function("model.py:quad", str(source))({"k1": 2.0, "length": 0.5, "label": "q"})
    assert outputs["focal_length"] == 1.0


@pytest.mark.unit
def test_a_scan_worker_process_does_not_import_prefect(tmp_path):
    import subprocess

    from tests.scans.conftest import write_quad

    source = write_quad(tmp_path / "quad", "quad-light")
    code = (
        "import sys\n"
        "from lume_prefect.scans.batch import Batch, evaluate_batch\n"
        f"batch = Batch(0, 'quad-light', '1.0.0', 'model.py:quad', {str(source)!r}, [0, 1], "
        "[{'k1': 2.0, 'length': 0.5, 'label': 'q'}, {'k1': 4.5, 'length': 0.5, 'label': 'q'}])\n"
        "outcome = evaluate_batch(batch)\n"
        "print(outcome.outputs[0]['focal_length'], outcome.errors[1][0], sorted(m for m in sys.modules if m.split('.')[0] == 'prefect'))\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["1.0", "ValueError", "[]"]
