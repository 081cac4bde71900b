"""A particles input where only JSON travels: its parameter schema (the FileRef form the Prefect
run form renders, in the registry and the deployment) and the transport copies
(``lume-inputs/particles/<content key>.h5``) that ``prune_transport_inputs`` removes once no
flow run can still need them, on the session's ephemeral Prefect API and local files.
(Deployment runs on a real worker: test_particles_deployment.)"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import uuid
from datetime import datetime, timedelta, timezone

import pytest

from lume_prefect.files import FileRef
from lume_prefect.models.deploy import register_model_version
from lume_prefect.models.particles import INPUTS_FOLDER, prune_transport_inputs
from lume_prefect.results.codec import value_key
from tests.lume.conftest import write_source
from tests.lume.particle_models import DRIFT, particles

pytestmark = pytest.mark.prefect

DAY = 86400.0


def test_a_particles_input_is_a_fileref_form_in_the_registry_and_the_deployment_schema(make_services, tmp_path):
    from prefect.utilities.callables import parameter_schema
    from prefect.utilities.schema_tools.validation import is_valid_schema, validate

    from lume_prefect.models.loading import load_model_flow

    services = make_services()
    source = write_source(tmp_path / "drift", {"drift.py": DRIFT})
    register_model_version("drift.py:make_drift", str(source), name="drift", version="1.0.0", services=services)
    registered = services.registry.get_version("drift", "1.0.0", _sync=True)
    deployed = parameter_schema(load_model_flow(registered.entrypoint, registered.source)).model_dump_for_openapi()
    fields = FileRef.model_json_schema()
    for schema in (registered.parameters_schema, deployed):
        is_valid_schema(schema)
        beam = schema["properties"]["beam"]
        assert beam["type"] == "object" and beam["additionalProperties"] is False and "$ref" not in json.dumps(schema)
        assert beam["properties"] == fields["properties"]  # each field titled and described as FileRef does
        assert beam["properties"]["sha256"]["description"] == "SHA-256 of the file's bytes when written."
        assert beam["required"] == ["path", "serializer", "sha256", "size"]
        assert "openPMD particles file" in beam["description"] and "file block" in beam["description"]
        assert schema["properties"]["length"]["type"] == "number"  # the other inputs as they were

        # what a server validating a run's parameters against it accepts and refuses
        ref = services.files.write("beams/gun.h5", particles(seed=1), _sync=True).model_dump(mode="json")
        assert validate({"beam": ref, "length": 1.0}, schema, raise_on_error=False) == []
        assert validate({"beam": {k: v for k, v in ref.items() if k not in ("block", "url")}}, schema, raise_on_error=False) == []
        refused = validate({"beam": {"path": "beams/gun.h5", "sha256": "xyz"}}, schema, raise_on_error=False)
        assert {e.message for e in refused} >= {"'serializer' is a required property", "'size' is a required property"}
        assert validate({"beam": {**ref, "colour": "red"}}, schema, raise_on_error=False)  # not a FileRef's field


@pytest.fixture
def copies(make_services):
    """Saved services with files in and around lume-inputs/particles/, all written 10 days ago
    except one: (services, {role: path})."""
    services = make_services()
    files = services.files
    beam = particles(seed=5)
    key = value_key(beam)
    paths = {
        "old": f"{INPUTS_FOLDER}/{key}.h5",  # a transport copy nothing needs
        "needed": f"{INPUTS_FOLDER}/{'a' * 64}.h5",  # named by a scheduled run
        "young": f"{INPUTS_FOLDER}/{'b' * 64}.h5",  # written again an hour ago
        "user's": f"{INPUTS_FOLDER}/my-beam.h5",  # not a content name: a user's file
        "nested": f"{INPUTS_FOLDER}/mine/{key}.h5",  # not directly in the folder
        "elsewhere": f"beams/{key}.h5",
    }
    root = files._rooted()
    for role, path in paths.items():
        files.write(path, beam, serializer="openpmd", _sync=True)
        age = 3600 * 2 if role == "young" else 10 * DAY
        os.utime(root.full_path(path), (time.time() - age, time.time() - age))
    return services, paths


def _scheduled_run(parameters: dict):
    """A flow run scheduled for tomorrow (not final) with ``parameters``."""
    from prefect import flow
    from prefect.client.orchestration import get_client
    from prefect.states import Scheduled

    @flow(name="drift-later")
    def later(**kwargs):  # noqa: ANN003 - never runs
        return None

    with get_client(sync_client=True) as client:
        return client.create_flow_run(later, parameters=parameters, state=Scheduled(scheduled_time=datetime.now(timezone.utc) + timedelta(days=1)))


def _exists(services, path) -> bool:
    return services.files.exists(path, _sync=True)


def test_prune_removes_only_old_transport_copies_that_no_unfinished_run_names(copies):
    from prefect.client.orchestration import get_client
    from prefect.states import Cancelled

    services, paths = copies
    needed = services.files._rooted()
    ref = FileRef(path=paths["needed"], serializer="openpmd", sha256="0" * 64, size=1, block="lume-local-files/x").model_dump(mode="json")
    # as a scan's batch run carries it: deep in lume_scan_batch
    run = _scheduled_run({"lume_scan_batch": {"points": [{"beam": ref, "length": 1.0}]}})

    assert prune_transport_inputs(7, services=services, dry_run=True) == [paths["old"]]
    assert all(_exists(services, p) for p in paths.values())  # a dry run removes nothing
    assert prune_transport_inputs(timedelta(days=7), services=services) == [paths["old"]]
    assert {role for role, p in paths.items() if not _exists(services, p)} == {"old"}
    assert prune_transport_inputs(7, services=services) == []  # nothing more, run again

    # the run ends (final, not retried by itself): its copy may go; a user's files never
    with get_client(sync_client=True) as client:
        client.set_flow_run_state(run.id, Cancelled(), force=True)
    assert prune_transport_inputs(7, services=services) == [paths["needed"]]
    assert not needed.exists(paths["needed"])
    assert prune_transport_inputs(0.05, services=services) == [paths["young"]]  # 1.2 hours
    assert {role for role, p in paths.items() if _exists(services, p)} == {"user's", "nested", "elsewhere"}


def test_a_copy_written_again_after_the_listing_is_kept(copies, monkeypatch):
    """The same particles sent again by a new run rewrite the copy: its new time keeps it."""
    from lume_prefect.models import particles as module

    services, paths = copies
    listed = module._copies_named_by_unfinished_runs

    def a_run_starts_meanwhile():
        services.files.write(paths["old"], particles(seed=5), serializer="openpmd", _sync=True)
        return listed()

    monkeypatch.setattr(module, "_copies_named_by_unfinished_runs", a_run_starts_meanwhile)
    assert prune_transport_inputs(7, services=services) == [paths["needed"]]  # no run names it here
    assert _exists(services, paths["old"])


@pytest.mark.parametrize("older_than,error", [
    (0, ValueError), (-1, ValueError), (float("inf"), ValueError), (float("nan"), ValueError), (0.02, ValueError),
    (timedelta(minutes=30), ValueError), ("7", TypeError), (True, TypeError), (None, TypeError),
])
def test_an_age_under_an_hour_or_not_a_number_is_refused_before_anything_is_removed(copies, older_than, error):
    services, paths = copies
    with pytest.raises(error, match="older_than"):
        prune_transport_inputs(older_than, services=services)
    assert all(_exists(services, p) for p in paths.values())


def test_without_the_prefect_api_nothing_is_removed(copies):
    import pickle

    from prefect.settings import PREFECT_API_URL, PREFECT_CLIENT_MAX_RETRIES, temporary_settings

    services, paths = copies
    with temporary_settings({PREFECT_API_URL: "http://127.0.0.1:9/api", PREFECT_CLIENT_MAX_RETRIES: 0}):
        with pytest.raises(ConnectionError, match="cannot read the unfinished flow runs from the Prefect API") as raised:
            prune_transport_inputs(7, services=services)
    assert all(_exists(services, p) for p in paths.values())
    assert type(pickle.loads(pickle.dumps(raised.value))) is ConnectionError


def test_the_cli_prunes_the_services_transport_copies(copies):
    from prefect.settings import PREFECT_API_URL

    services, paths = copies
    name = services._block_document_name
    env = {**os.environ, "PREFECT_API_URL": PREFECT_API_URL.value(), "PYTHONPATH": os.getcwd()}

    def cli(*args):
        return subprocess.run([sys.executable, "-m", "lume_prefect.cli", "files", "prune-inputs", *args, "--services", name],
                              capture_output=True, text=True, env=env, timeout=300)

    dry = cli("--older-than", "7", "--dry-run")
    assert dry.returncode == 0, dry.stderr
    assert f"would remove: {paths['old']}" in dry.stdout and _exists(services, paths["old"])
    done = cli("--older-than", "7", "--json")
    assert done.returncode == 0 and json.loads(done.stdout) == [paths["old"], paths["needed"]], done.stderr
    refused = cli("--older-than", "0.01")
    assert refused.returncode == 1 and "older_than must be at least an hour" in refused.stderr
    assert {role for role, p in paths.items() if not _exists(services, p)} == {"old", "needed"}


@pytest.mark.unit
def test_a_run_forms_blank_optional_fields_are_absent_not_a_block_named_empty():
    from lume_prefect.models.particles import as_ref

    form = {"path": "beams/b.h5", "serializer": "openpmd", "sha256": "0" * 64, "size": 10, "block": "", "url": ""}
    ref = as_ref(form)
    assert ref is not None and ref.block is None and ref.url is None and ref.path == "beams/b.h5"
    assert as_ref({**form, "block": "local-files/beams"}).block == "local-files/beams"
