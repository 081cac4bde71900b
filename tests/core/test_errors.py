"""Every exception class of lume_prefect survives pickle and cloudpickle: same type, same
message, same attributes. The classes are found by walking the package, so a new one is
checked without being listed here."""

from __future__ import annotations

import importlib
import inspect
import pickle
import pkgutil
import uuid
from typing import Any

import cloudpickle
import pytest

import lume_prefect
from lume_prefect.scans.errors import BadPoint, FailedPoint
from lume_prefect.core.errors import LumeError, RemoteError, portable

pytestmark = pytest.mark.unit

KEY = "a" * 64
FLOW_RUN = uuid.UUID("12345678-1234-5678-1234-567812345678")

# Realistic constructor arguments, by class name; a class not listed here gets arguments
# made from its signature (see _arguments), so it is still checked.
ARGUMENTS: dict[str, tuple[tuple[Any, ...], dict[str, Any]]] = {
    "PathOutsideRoot": (("../etc/passwd", "/data/runs"), {}),
    "UnknownSerializer": (("no serializer for '.xyz'", ["json", "yaml"], [".json", ".yaml"]), {}),
    "ChecksumMismatch": (("file:///data/runs/a.json", "0" * 64, "1" * 64), {}),
    "InvalidResultValue": (("outputs.x", "NaN is not allowed"), {}),
    "InvalidQuery": (("limit", "must be a non-negative int"), {}),
    "DuplicateResult": ((KEY, "injector", ["b" * 64]), {}),
    "ResultNotFound": ((KEY, "SQLResultsStore(sqlite:///x.db)"), {}),
    "SlurmCommandError": (("sbatch", 1, "sbatch: error: invalid partition\n"), {}),
    "JobFailed": (("1234_5", "TIMEOUT", "reached its time limit", 143), {}),
    "InvalidInput": (("injector", "charge", "is above its range 0..1"), {}),
    "InvalidOutput": (("injector", "output 'x' is missing"), {}),
    "SourceConflict": (("injector", "1.0", "git+a", "git+b"), {}),
    "ModelRunFailed": (("injector", "1.0", "FAILED", FLOW_RUN), {}),
    "ModelRunTimeout": (("injector", "1.0", FLOW_RUN, 30.0, True), {}),
    "NotDeployed": (("injector", "1.0"), {}),
    "RunsFromRequired": (("injector", "1.0", "lume-process", "/home/me/injector"), {}),
    "ModelNotFound": (("injector",), {}),
    "VersionNotFound": (("injector", "2.0"), {}),
    "NoVersions": (("injector",), {}),
    "AliasNotFound": (("injector", "staging"), {}),
    "NoLiveVersion": (("injector",), {}),
    "ModelExists": (("injector",), {}),
    "VersionExists": (("injector", "1.0.0", "1.0"), {}),
    "NothingToRevert": (("injector",), {"alias": "staging"}),
    "InvalidValue": (("model name", "a b", "no spaces"), {}),
    "InvalidVersion": (("one",), {"model": "injector"}),
    "UnknownFilter": (("colour", ["name", "author"]), {}),
    "SchemaOutdated": (("sqlite:///r.db", "0001", "0002"), {}),
    "UnknownSchema": (("sqlite:///r.db", "is at schema revision 'zz'"), {}),
    "ProfileError": (("blocks/dev.yaml", ["registry: url is missing", "files: unknown type"]), {}),
    "MissingDatabaseDirectory": (("sqlite:////data/typo/results.db", "/data/typo"), {}),
    "RemoteError": (("mymodule.Boom", "it broke", "Traceback (most recent call last):\n  ...\nBoom: it broke\n"), {}),
    "InvalidPoints": (("toy-beam", "1.0.0", 100, [BadPoint(3, "sigma_x", 2.0, "[1e-06, 0.1] m", "is outside its range")]), {}),
    "ScanFailed": (("toy-beam", "1.0.0", [FailedPoint(7, {"sigma_x": 0.002}, "RuntimeError", "diverged")]), {}),
}
_BY_ANNOTATION = {"str": "some-text", "int": 3, "float": 2.5, "bool": True, "list": ["a", "b"], "dict": {"a": 1}}


def _modules() -> list[str]:
    names = []
    for info in pkgutil.walk_packages(lume_prefect.__path__, "lume_prefect."):
        if ".migrations" in info.name or info.name.endswith("__main__"):  # run only as scripts
            continue
        names.append(info.name)
    return names


def exception_classes() -> list[type[BaseException]]:
    found: dict[str, type[BaseException]] = {}
    for name in _modules():
        module = importlib.import_module(name)
        for value in vars(module).values():
            if inspect.isclass(value) and issubclass(value, BaseException) and value.__module__.startswith("lume_prefect."):
                found[f"{value.__module__}.{value.__qualname__}"] = value
    return [found[k] for k in sorted(found)]


def _arguments(cls: type[BaseException]) -> tuple[tuple[Any, ...], dict[str, Any]]:
    if cls.__name__ in ARGUMENTS:
        return ARGUMENTS[cls.__name__]
    init = cls.__init__
    if init in (LumeError.__init__, BaseException.__init__, Exception.__init__):
        return (f"{cls.__name__} happened: job 42 on node-1",), {}
    args = []
    for parameter in list(inspect.signature(init).parameters.values())[1:]:
        if parameter.kind in (parameter.VAR_POSITIONAL, parameter.VAR_KEYWORD):
            continue
        annotation = str(parameter.annotation)
        value = next((v for t, v in _BY_ANNOTATION.items() if annotation.startswith(t)), f"<{parameter.name}>")
        args.append(value)
    return tuple(args), {}


def _same(a: Any, b: Any) -> bool:
    return a == b or repr(a) == repr(b)


CLASSES = exception_classes()


def test_the_walk_finds_every_service_error():
    names = {cls.__name__ for cls in CLASSES}
    # one from each service, and the core: the walk covers the whole package
    assert {"PathOutsideRoot", "DuplicateResult", "JobFailed", "InvalidInput", "VersionExists", "ProfileError", "RemoteError"} <= names
    assert len(CLASSES) >= 40


@pytest.mark.parametrize("cls", CLASSES, ids=lambda c: c.__qualname__)
def test_every_error_is_a_lume_error(cls):
    assert issubclass(cls, LumeError), f"{cls.__module__}.{cls.__qualname__} does not subclass LumeError"


@pytest.mark.parametrize("dumps", [pickle.dumps, cloudpickle.dumps], ids=["pickle", "cloudpickle"])
@pytest.mark.parametrize("cls", CLASSES, ids=lambda c: c.__qualname__)
def test_every_error_round_trips(cls, dumps):
    args, kwargs = _arguments(cls)
    original = cls(*args, **kwargs)
    original.add_note("raised in a test")
    copy = pickle.loads(dumps(original))
    assert type(copy) is cls
    assert str(copy) == str(original) and str(copy)
    assert copy.args == original.args
    assert copy.__notes__ == ["raised in a test"]
    for name, value in vars(original).items():
        assert _same(getattr(copy, name), value), f"{cls.__name__}.{name}: {getattr(copy, name)!r} != {value!r}"
    assert portable(original) is original  # nothing to wrap


def test_oserror_subclasses_keep_their_message_not_errno():
    from lume_prefect.files.errors import ChecksumMismatch
    from lume_prefect.models.errors import ModelRunTimeout

    error = ChecksumMismatch("file:///a.json", "0" * 64, "1" * 64)
    assert isinstance(error, OSError)
    assert error.errno is None and error.filename is None
    assert str(error).startswith("file:///a.json changed since it was written")
    timeout = pickle.loads(pickle.dumps(ModelRunTimeout("m", "1.0", FLOW_RUN, 30.0, False)))
    assert isinstance(timeout, TimeoutError) and "not finished after 30 s; left it running" in str(timeout)


def test_the_registry_errors_need_no_reduce_of_their_own():
    from lume_prefect.registry import errors

    assert all("__reduce__" not in vars(cls) for cls in CLASSES if cls.__module__ == errors.__name__)


def test_an_error_that_cannot_travel_becomes_a_remote_error_with_its_traceback():
    from tests.core.raisers import UsersOwnError

    try:
        raise UsersOwnError(2.0, 1.0)
    except UsersOwnError as exc:
        with pytest.raises(TypeError):
            pickle.loads(pickle.dumps(exc))
        carried = portable(exc)
    assert isinstance(carried, RemoteError)
    assert carried.type_name == "tests.core.raisers.UsersOwnError"
    assert carried.message == "charge 2.0 above 1.0"
    assert "raise UsersOwnError(2.0, 1.0)" in carried.traceback_text
    copy = pickle.loads(pickle.dumps(carried))
    assert type(copy) is RemoteError and str(copy) == str(carried)
    assert "Remote traceback" in str(copy)
