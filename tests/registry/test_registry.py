"""The registry API on SQLite, PostgreSQL and MariaDB: behaviour, and bad input writing nothing."""

from __future__ import annotations

from datetime import timezone

import pytest

from lume_prefect.registry import (
    AliasNotFound,
    InvalidValue,
    InvalidVersion,
    ModelExists,
    ModelNotFound,
    NoLiveVersion,
    NothingToRevert,
    NoVersions,
    RegisteredModel,
    UnknownFilter,
    VersionExists,
    VersionNotFound,
)
from tests.registry.conftest import row_counts

META = {"author": "Jane Doe", "laboratory": "SLAC", "facility": "LCLS", "beampath": "cu_hxr"}


def test_register_and_get_model(registry):
    made = registry.register_model("injector", **META, description="surrogate", tags={"kind": "surrogate", "gpu": ""})
    assert isinstance(made, RegisteredModel)
    assert made.name == "injector" and made.laboratory == "SLAC" and made.description == "surrogate"
    assert made.tags == {"gpu": "", "kind": "surrogate"}
    assert made.created_at.tzinfo == timezone.utc
    assert registry.get_model("injector") == made
    assert made.aliases == {} and made.live_version is None


def test_model_names_are_unique_and_case_sensitive(registry, db_url):
    registry.register_model("injector", **META)
    with pytest.raises(ModelExists, match="'injector' is already registered"):
        registry.register_model("injector", **META)
    again = registry.register_model("injector", **{**META, "author": "someone else"}, exist_ok=True)
    assert again.author == "Jane Doe"  # exist_ok returns the model unchanged
    registry.register_model("Injector", **META)  # another model on every backend, MariaDB included
    assert [m.name for m in registry.list_models()] == ["Injector", "injector"]
    assert row_counts(db_url)["models"] == 2


def test_list_models_filters_on_metadata_and_tags(registry):
    registry.register_model("a", **META, tags={"kind": "surrogate", "site": "hxr"})
    registry.register_model("b", **{**META, "facility": "FACET"}, tags={"kind": "physics"})
    registry.register_model("c", **{**META, "author": "Ann"})
    assert [m.name for m in registry.list_models(facility="LCLS")] == ["a", "c"]
    assert [m.name for m in registry.list_models(tags={"kind": "surrogate"})] == ["a"]
    assert [m.name for m in registry.list_models(tags={"kind": None})] == ["a", "b"]
    assert [m.name for m in registry.list_models(author="Ann", facility="LCLS")] == ["c"]
    assert registry.list_models(tags={"kind": "surrogate", "site": "sxr"}) == []
    assert registry.list_models(laboratory="nowhere") == []


def test_unknown_filter_field_is_an_error_naming_it(registry):
    registry.register_model("a", **META)
    with pytest.raises(UnknownFilter, match="'owner'.*known filters: name, author"):
        registry.list_models(owner="me")


def test_update_model_changes_metadata_and_replaces_tags(registry):
    registry.register_model("a", **META, tags={"old": "1"})
    updated = registry.update_model("a", description="new text", facility="FACET", tags={"new": "2"})
    assert (updated.description, updated.facility, updated.tags) == ("new text", "FACET", {"new": "2"})
    with pytest.raises(InvalidValue, match="model field 'name'.*can change: author"):
        registry.update_model("a", name="b")
    with pytest.raises(ModelNotFound, match="'zz'"):
        registry.update_model("zz", description="x")


def test_versions_sort_by_pep440_not_string_order(injector):
    injector.register_version("injector", "1.10rc1", source="s", entrypoint="flows/run.py:main")
    injector.register_version("injector", "2.0.dev1", source="s", entrypoint="m:f")
    assert [v.version for v in injector.list_versions("injector")] == ["2.0.dev1", "1.10", "1.10rc1", "1.9", "1.0"]
    assert injector.latest_version("injector").version == "2.0.dev1"
    injector.register_version("injector", "2.0", source="s", entrypoint="m:f")
    assert injector.latest_version("injector").version == "2.0"


def test_register_version_records_everything(injector):
    schema = {"type": "object", "properties": {"charge": {"type": "number"}}, "required": ["charge"]}
    made = injector.register_version(
        "injector", "2.0.0-RC1", source="git+https://example.org/injector@v2", entrypoint="injector.flow:run",
        sha256="AB" * 32, image="ghcr.io/lume/injector:2", parameters_schema=schema, by="operator-7",
    )
    assert made.version == "2.0.0rc1"  # PEP 440 normal form
    assert made.sha256 == "ab" * 32 and made.image == "ghcr.io/lume/injector:2"
    assert made.parameters_schema == schema and made.registered_by == "operator-7"
    assert made.deployment_name is None and made.registered_at.tzinfo == timezone.utc
    assert injector.get_version("injector", "2.0.0rc1") == made
    assert injector.get_version("injector", "2.0.0.0rc1") == made  # PEP 440 equal


def test_equal_versions_conflict(injector):
    with pytest.raises(VersionExists, match=r"'1\.10\.0' \(as '1\.10'"):
        injector.register_version("injector", "1.10.0", source="s", entrypoint="m:f")
    with pytest.raises(VersionExists, match="already has version '1.9'"):
        injector.register_version("injector", "1.9", source="s", entrypoint="m:f")


def test_lookups_of_missing_things_name_them(injector):
    with pytest.raises(ModelNotFound, match="'nope' is not registered"):
        injector.get_model("nope")
    with pytest.raises(ModelNotFound, match="'nope'"):
        injector.register_version("nope", "1.0", source="s", entrypoint="m:f")
    with pytest.raises(VersionNotFound, match="'injector' has no version '3.0'"):
        injector.get_version("injector", "3.0")
    with pytest.raises(NoLiveVersion, match="'injector' has no live version"):
        injector.live_version("injector")
    with pytest.raises(ModelNotFound, match="'nope'"):
        injector.live_version("nope")
    with pytest.raises(AliasNotFound, match="no alias 'staging'"):
        injector.get_alias("injector", "staging")
    injector.register_model("empty", **META)
    with pytest.raises(NoVersions, match="'empty' has no registered version"):
        injector.latest_version("empty")
    assert injector.list_versions("empty") == []
    with pytest.raises(ModelNotFound):
        injector.list_versions("nope")
    with pytest.raises(ModelNotFound):
        injector.history("nope")


def test_promote_revert_and_history(injector):
    first = injector.promote("injector", "1.0", by="alice")
    assert (first.from_version, first.to_version, first.changed_by, first.action) == (None, "1.0", "alice", "set")
    injector.promote("injector", "1.9", by="bob")
    injector.promote("injector", "1.10", by="carol")
    assert injector.live_version("injector").version == "1.10"
    assert injector.get_model("injector").aliases == {"live": "1.10"}

    back = injector.revert("injector", by="dave")
    assert (back.from_version, back.to_version, back.action) == ("1.10", "1.9", "revert")
    assert injector.live_version("injector").version == "1.9"
    assert injector.revert("injector").to_version == "1.0"  # reverts undo one change at a time
    with pytest.raises(NothingToRevert, match="'injector'"):
        injector.revert("injector")
    assert injector.live_version("injector").version == "1.0"

    history = injector.history("injector")
    assert [(h.from_version, h.to_version, h.action) for h in history] == [
        (None, "1.0", "set"), ("1.0", "1.9", "set"), ("1.9", "1.10", "set"), ("1.10", "1.9", "revert"), ("1.9", "1.0", "revert"),
    ]
    assert [h.changed_by for h in history[:4]] == ["alice", "bob", "carol", "dave"]
    assert history[3].reverted_id == history[2].id and history[4].reverted_id == history[1].id
    assert [h.id for h in history] == sorted(h.id for h in history)


def test_promote_after_revert_then_revert_again(injector):
    injector.promote("injector", "1.0")
    injector.promote("injector", "1.9")
    injector.revert("injector")  # live 1.0
    injector.promote("injector", "1.10")  # live 1.10, undo goes back to 1.0
    assert injector.revert("injector").to_version == "1.0"


def test_promoting_the_live_version_again_changes_nothing(injector, db_url):
    change = injector.promote("injector", "1.9")
    assert injector.promote("injector", "1.9.0") == change
    assert row_counts(db_url)["history"] == 1


def test_user_aliases_are_independent_of_live(injector):
    injector.promote("injector", "1.9")
    injector.set_alias("injector", "staging", "1.10")
    assert injector.get_alias("injector", "staging").version == "1.10"
    assert injector.get_model("injector").aliases == {"live": "1.9", "staging": "1.10"}
    removed = injector.remove_alias("injector", "staging")
    assert (removed.to_version, removed.action) == (None, "remove")
    with pytest.raises(AliasNotFound):
        injector.get_alias("injector", "staging")
    assert injector.revert("injector", "staging").to_version == "1.10"  # undo the removal
    assert [h.alias for h in injector.history("injector", "live")] == ["live"]
    assert injector.live_version("injector").version == "1.9"


def test_set_deployment_once_deployed(injector):
    assert injector.get_version("injector", "1.9").deployment_id is None
    deployment_id = "0b5e0000-1111-4222-8333-944455556666"  # a Prefect deployment's id is a UUID (issue 21)
    deployed = injector.set_deployment("injector", "1.9", deployment_name="run/injector-1.9", deployment_id=deployment_id)
    assert (deployed.deployment_name, deployed.deployment_id) == ("run/injector-1.9", deployment_id)
    assert deployed.deployed_at is not None
    with pytest.raises(VersionNotFound):
        injector.set_deployment("injector", "4.0", deployment_name="x/y")


@pytest.mark.parametrize(
    "kwargs, error, field",
    [
        ({"name": ""}, InvalidValue, "model name ''"),
        ({"name": "   "}, InvalidValue, "model name"),
        ({"name": "has space"}, InvalidValue, "'has space'"),
        ({"name": "x" * 101}, InvalidValue, "model name"),
        ({"author": ""}, InvalidValue, "author"),
        ({"facility": None}, InvalidValue, "facility"),
        ({"tags": {"": "x"}}, InvalidValue, "tag key"),
        ({"tags": {"k": 3}}, InvalidValue, "tag 'k'"),
        ({"tags": ["a"]}, InvalidValue, "tags"),
    ],
)
def test_bad_model_input_writes_nothing(shared_injector, kwargs, error, field):
    registry, url = shared_injector
    before = row_counts(url)
    with pytest.raises(error, match=field):
        registry.register_model(**{"name": "new-model", **META, **kwargs})
    assert row_counts(url) == before


@pytest.mark.parametrize(
    "kwargs, error, field",
    [
        ({"version": "1.x"}, InvalidVersion, "'1.x'"),
        ({"version": ""}, InvalidVersion, "version ''"),
        ({"version": "latest"}, InvalidVersion, "'latest'"),
        ({"source": ""}, InvalidValue, "source"),
        ({"entrypoint": "no_colon"}, InvalidValue, "entrypoint 'no_colon'"),
        ({"entrypoint": "m:not an identifier"}, InvalidValue, "entrypoint"),
        ({"sha256": "abc"}, InvalidValue, "sha256 'abc'"),
        ({"parameters_schema": {"type": "not-a-type"}}, InvalidValue, "parameters_schema.*not a valid JSON schema"),
        ({"parameters_schema": {"default": {1, 2}}}, InvalidValue, "not JSON-serialisable"),
        ({"image": ""}, InvalidValue, "image"),
    ],
)
def test_bad_version_input_writes_nothing(shared_injector, kwargs, error, field):
    registry, url = shared_injector
    before = row_counts(url)
    args = {"version": "3.0", "source": "s", "entrypoint": "m:f", **kwargs}
    with pytest.raises(error, match=field):
        registry.register_version("injector", args.pop("version"), **args)
    assert row_counts(url) == before


def test_bad_alias_input_writes_nothing(injector, db_url):
    before = row_counts(db_url)
    with pytest.raises(InvalidValue, match="alias 'latest'.*reserved"):
        injector.set_alias("injector", "latest", "1.0")
    with pytest.raises(InvalidValue, match="alias 'Live Now'"):
        injector.set_alias("injector", "Live Now", "1.0")
    with pytest.raises(InvalidVersion, match="'one'"):
        injector.promote("injector", "one")
    with pytest.raises(VersionNotFound, match="'7.0'"):
        injector.promote("injector", "7.0")
    assert row_counts(db_url) == before


def test_relocate_source_only_for_the_same_code(registry):
    registry.register_model("mover", author="A", laboratory="L", facility="F", beampath="B")
    registry.register_version("mover", "1.0", source="/old/checkout", entrypoint="m.py:run", sha256="a" * 64)
    moved = registry.relocate_source("mover", "1.0", source="/new/checkout", sha256="a" * 64)
    assert (moved.source, moved.sha256) == ("/new/checkout", "a" * 64)
    with pytest.raises(InvalidValue, match="invalid sha256 'bbbb.*differs from aaaa.*the code changed"):
        registry.relocate_source("mover", "1.0", source="/elsewhere", sha256="b" * 64)
    assert registry.get_version("mover", "1.0").source == "/new/checkout"  # nothing written
    with pytest.raises(VersionNotFound):
        registry.relocate_source("mover", "2.0", source="/x", sha256="a" * 64)
