"""deployments/slurm.json is the slurm work pool's base job template, committed for operators
(`prefect work-pool create NAME --type slurm --base-job-template deployments/slurm.json`).
It must be exactly what the worker class serves today, so it cannot drift."""

from __future__ import annotations

import json

import pytest

from tests.components import ROOT

pytestmark = pytest.mark.unit

TEMPLATE = ROOT / "deployments" / "slurm.json"
REGENERATE = "prefect work-pool get-default-base-job-template --type lume-slurm --file deployments/slurm.json"


def test_committed_template_equals_the_workers_default():
    from lume_prefect.slurm.worker import SlurmWorker

    committed = json.loads(TEMPLATE.read_text())
    assert committed == SlurmWorker.get_default_base_job_template(), f"deployments/slurm.json is stale: regenerate it with `{REGENERATE}`"


def test_template_exposes_every_job_setting_as_a_variable():
    """Each job setting the worker reads is an editable variable (per pool and per deployment)."""
    from lume_prefect.slurm.worker import SlurmJobConfiguration

    template = json.loads(TEMPLATE.read_text())
    variables = template["variables"]["properties"]
    for field in SlurmJobConfiguration.model_fields:
        assert template["job_configuration"][field] == f"{{{{ {field} }}}}", field
        assert field in variables and variables[field].get("description"), field
    assert template["variables"]["required"] == ["cluster"]
