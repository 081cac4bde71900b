"""PEP 440 parsing and the sortable key: string order of keys == packaging's version order."""

from __future__ import annotations

import pickle
import random

import pytest
from packaging.version import Version

from lume_prefect.registry.errors import InvalidVersion, VersionExists
from lume_prefect.registry.versions import normalize_version, sort_key

pytestmark = pytest.mark.unit


def _random_version(rng: random.Random) -> str:
    parts = [str(rng.choice([0, 1, 2, 9, 10, 11, 99, 100, 2024, 123456789])) for _ in range(rng.randint(1, 4))]
    text = ".".join(parts)
    if rng.random() < 0.1:
        text = f"{rng.randint(1, 12)}!{text}"
    if rng.random() < 0.3:
        text += rng.choice(["a", "b", "rc", "alpha", "c", "pre"]) + str(rng.choice([0, 1, 10]))
    if rng.random() < 0.3:
        text += f".post{rng.choice([0, 1, 12])}"
    if rng.random() < 0.3:
        text += f".dev{rng.choice([0, 3, 20])}"
    if rng.random() < 0.2:
        text += "+" + ".".join(rng.choice(["ubuntu", "1", "2", "abc9", "10", "z"]) for _ in range(rng.randint(1, 3)))
    return text


def test_key_order_is_pep440_order_on_thousands_of_versions():
    rng = random.Random(440)
    texts = {_random_version(rng) for _ in range(4000)}
    parsed = [Version(t) for t in texts]
    by_key = sorted(parsed, key=sort_key)
    by_pep440 = sorted(parsed)
    assert [sort_key(v) for v in by_key] == [sort_key(v) for v in by_pep440]
    for earlier, later in zip(by_pep440, by_pep440[1:]):
        assert (sort_key(earlier) < sort_key(later)) == (earlier < later)
        assert (sort_key(earlier) == sort_key(later)) == (earlier == later)


@pytest.mark.parametrize(
    "lower, higher",
    [
        ("1.9", "1.10"),
        ("1.0.dev0", "1.0a0"),
        ("1.0a1", "1.0b1"),
        ("1.0rc1", "1.0"),
        ("1.0", "1.0.post1"),
        ("1.0", "1.0+local"),
        ("1.0+abc", "1.0+1"),
        ("1.0.post1.dev1", "1.0.post1"),
        ("9.0", "1!0.1"),
        ("2.0.dev1", "2.0"),
    ],
)
def test_known_orderings(lower, higher):
    assert sort_key(lower) < sort_key(higher)


def test_equal_versions_share_a_key_and_keys_are_digits():
    assert sort_key("1.0") == sort_key("1.0.0") == sort_key("1")
    assert sort_key("1.0-RC1") == sort_key("1.0rc1")
    assert sort_key("2.0+Ubuntu.1").isdigit()
    assert normalize_version("1.0-RC1") == "1.0rc1"
    assert normalize_version("v2.0") == "2.0"


@pytest.mark.parametrize("bad", ["", "   ", "1.x", "latest", "1.0 beta", None, 1.0, "1." * 40])
def test_invalid_versions_name_the_value(bad):
    with pytest.raises(InvalidVersion) as caught:
        normalize_version(bad, model="injector")
    assert repr(bad) in str(caught.value) or "..." in str(caught.value)
    assert "injector" in str(caught.value)
    assert isinstance(caught.value, ValueError)


def test_errors_survive_pickling_with_their_message():
    for error in (InvalidVersion("1.x", "injector"), VersionExists("injector", "1.0.0", "1.0")):
        copy = pickle.loads(pickle.dumps(error))
        assert type(copy) is type(error) and str(copy) == str(error)
