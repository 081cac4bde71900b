"""Plot axes carry the units the model declares (issue 19.7)."""

from __future__ import annotations

import pytest

from lume_prefect.models import ModelSpec
from lume_prefect.results import Result, plot_frame, results_to_dataframe

pytestmark = pytest.mark.unit

SPEC = ModelSpec(name="beam", version="1.0.0",
                 inputs=[{"name": "sigma_x", "units": "m"}, {"name": "n", "type": "int"}],
                 outputs=[{"name": "rms_x", "units": "mm"}, {"name": "count"}])


def frame():
    return results_to_dataframe([Result(model="beam", version="1.0.0", inputs={"sigma_x": s, "n": 3}, outputs={"rms_x": 2 * s, "count": 3})
                                 for s in (1.0, 2.0, 3.0)])


def test_a_specs_units_label_the_axes():
    assert SPEC.units() == {"inputs.sigma_x": "m", "outputs.rms_x": "mm"}
    figure, _ = plot_frame(frame(), "rms_x", "sigma_x", units=SPEC.units())
    [axes] = figure.axes
    assert (axes.get_xlabel(), axes.get_ylabel()) == ("inputs.sigma_x [m]", "outputs.rms_x [mm]")
    history, _ = plot_frame(frame(), "rms_x", kind="history", units=SPEC.units())
    assert (history.axes[0].get_xlabel(), history.axes[0].get_ylabel()) == ("time (UTC)", "outputs.rms_x [mm]")


def test_a_quantity_without_units_keeps_its_bare_name():
    figure, _ = plot_frame(frame(), "count", "n", units=SPEC.units())
    assert (figure.axes[0].get_xlabel(), figure.axes[0].get_ylabel()) == ("inputs.n", "outputs.count")
