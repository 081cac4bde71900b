"""The service kernel: one resolver for every kind of block, a block's domain object built once
per configuration per process (fork-safe), its methods given once in sync and async forms."""

from __future__ import annotations

import inspect
import os
import uuid

import pytest
from pydantic import SecretStr

from lume_prefect.core.resolve import resolve, using_services
from lume_prefect.files import LocalFiles
from lume_prefect.registry import ModelRegistry, SQLRegistry
from lume_prefect.results import SQLResults, SQLResultsStore
from lume_prefect.services import LumeServices


def services_in(tmp_path, tag: str) -> LumeServices:
    return LumeServices(
        files=LocalFiles(basepath=str(tmp_path / tag / "files")),
        registry=ModelRegistry(url=SecretStr(f"sqlite:///{tmp_path / tag / 'registry.db'}")),
        results=SQLResults(url=SecretStr(f"sqlite:///{tmp_path / tag / 'results.db'}")),
    )


def test_a_block_is_used_as_given(tmp_path):
    files = LocalFiles(basepath=str(tmp_path))
    assert resolve(files, "files") is files


def test_bad_values_and_kinds_are_refused_by_name():
    with pytest.raises(TypeError, match="registry must be a ModelRegistry or MLflowRegistry block, a saved block's name, or None, got 42"):
        resolve(42, "registry")
    with pytest.raises(TypeError, match="files must be a LocalFiles or MountedFiles or S3Files block"):
        resolve("", "files")
    with pytest.raises(ValueError, match="unknown service kind 'tape'"):
        resolve(None, "tape")  # type: ignore[arg-type]


def test_none_is_the_block_of_the_active_services(tmp_path):
    services = services_in(tmp_path, "active")
    with using_services(services):
        assert resolve(None, "services") is services
        assert resolve(None, "registry") is services.registry
        assert resolve(None, "results") is services.results
        with pytest.raises(ValueError, match="has no slurm block"):
            resolve(None, "slurm")


@pytest.mark.prefect
def test_names_and_none_follow_lume_services(tmp_path, monkeypatch):
    name = f"kernel-{uuid.uuid4().hex[:8]}"
    services = services_in(tmp_path, "saved")
    services.save(name)
    services.registry.save(f"{name}-registry")
    # a saved block's name, bare or with its type slug
    assert resolve(f"{name}-registry", "registry").url.get_secret_value() == services.registry.url.get_secret_value()
    assert isinstance(resolve(f"lume-model-registry/{name}-registry", "registry"), ModelRegistry)
    with pytest.raises(ValueError, match=f"no file block named 'nope-{name}'"):
        resolve(f"nope-{name}", "files")
    # None: the LumeServices named by LUME_SERVICES, for every kind
    monkeypatch.setenv("LUME_SERVICES", name)
    assert resolve(None, "files").basepath == str(tmp_path / "saved" / "files")
    assert resolve(None, "results").url.get_secret_value() == f"sqlite:///{tmp_path / 'saved' / 'results.db'}"
    assert resolve(None, "services")._block_document_name == name


def test_one_domain_object_per_configuration_per_process(tmp_path):
    url = f"sqlite:///{tmp_path / 'r.db'}"
    first, second = SQLResults(url=SecretStr(url)), SQLResults(url=SecretStr(url))
    assert first.store() is second.store()  # two blocks, one configuration: one store
    assert isinstance(first.store(), SQLResultsStore)
    other = SQLResults(url=SecretStr(f"sqlite:///{tmp_path / 'other.db'}"))
    assert other.store() is not first.store()
    registry = ModelRegistry(url=SecretStr(f"sqlite:///{tmp_path / 'reg.db'}"))
    assert isinstance(registry.registry(), SQLRegistry) and registry.registry() is registry.registry()


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs fork")
def test_a_forked_child_builds_its_own(tmp_path):
    block = SQLResults(url=SecretStr(f"sqlite:///{tmp_path / 'r.db'}"))
    parent_store = block.store()
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: a new store (its own engine), and it works
        try:
            fresh = block.store() is not parent_store and block.count() == 0
            os.write(write, b"1" if fresh else b"0")
        finally:
            os._exit(0)
    os.waitpid(pid, 0)
    assert os.read(read, 1) == b"1"
    assert block.store() is parent_store


def test_delegated_methods_keep_the_domain_signature_and_have_async_twins(tmp_path):
    assert inspect.signature(ModelRegistry.register_version) == inspect.signature(SQLRegistry.register_version)
    assert ModelRegistry.live_version.__doc__ == SQLRegistry.live_version.__doc__
    assert list(inspect.signature(SQLResults.find).parameters) == [
        "self", "model", "version", "since", "until", "inputs", "tags", "limit", "newest_first", "keys",
    ]
    assert inspect.iscoroutinefunction(ModelRegistry.alive_version) and inspect.iscoroutinefunction(SQLResults.afind)


async def test_delegated_methods_are_awaitable_in_async_code(tmp_path):
    registry = ModelRegistry(url=SecretStr(f"sqlite:///{tmp_path / 'async.db'}"))
    await registry.register_model("m", author="a", laboratory="l", facility="f", beampath="b")
    assert [m.name for m in await registry.alist_models()] == ["m"]
    assert registry.list_models(_sync=True)[0].name == "m"


def test_a_used_block_pickles_and_copies_with_its_configuration_only(tmp_path):
    import copy
    import pickle

    import cloudpickle

    registry = ModelRegistry(url=SecretStr(f"sqlite:///{tmp_path / 'p.db'}"))
    registry.register_model("m", author="a", laboratory="l", facility="f", beampath="b")  # built: engine, lock
    for clone in (pickle.loads(pickle.dumps(registry)), pickle.loads(cloudpickle.dumps(registry)), copy.deepcopy(registry)):
        assert clone.url.get_secret_value() == registry.url.get_secret_value()
        assert [m.name for m in clone.list_models()] == ["m"]
        assert clone.registry() is registry.registry()  # in this process: the same registry again
    assert registry.list_models()[0].name == "m"
