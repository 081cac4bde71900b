"""Serializers: round trips, choice by name and extension, third-party entry points."""

from __future__ import annotations

import io
import sys
import textwrap

import numpy as np
import pytest
from PIL import Image

from lume_prefect.files.errors import UnknownSerializer
from lume_prefect.files.serializers import ATTRS_KEY, get_serializer, registry

pytestmark = pytest.mark.unit


def round_trip(obj, name):
    serializer = get_serializer(name)
    buffer = io.BytesIO()
    serializer.dump(obj, buffer)
    buffer.seek(0)
    return serializer.load(buffer)


def test_text_bytes_json_yaml_round_trip():
    assert round_trip("émittance ✓\n", "text") == "émittance ✓\n"
    assert round_trip(b"\x00\xffdata", "bytes") == b"\x00\xffdata"
    assert round_trip({"a": [1, 2.5, None], "b": {"c": "d"}}, "json") == {"a": [1, 2.5, None], "b": {"c": "d"}}
    assert round_trip({"quads": [1.0, -1.0], "name": "L1"}, "yaml") == {"quads": [1.0, -1.0], "name": "L1"}


def test_json_writes_numpy_values_as_numbers_and_lists():
    assert round_trip({"x": np.arange(3), "s": np.float64(2.5)}, "json") == {"x": [0, 1, 2], "s": 2.5}


def test_bytes_and_text_stream_from_file_objects():
    assert round_trip(io.BytesIO(b"abc" * 1000), "bytes") == b"abc" * 1000
    assert round_trip(io.StringIO("line\n" * 100), "text") == "line\n" * 100


def test_npy_keeps_dtype_and_shape():
    array = np.arange(12, dtype=np.float32).reshape(3, 4)
    back = round_trip(array, "npy")
    assert back.dtype == np.float32 and back.shape == (3, 4)
    np.testing.assert_array_equal(back, array)


def test_npy_refuses_object_arrays():
    with pytest.raises(ValueError, match="pickle"):
        round_trip(np.array([{"a": 1}], dtype=object), "npy")


def test_npz_round_trips_a_dict_of_arrays():
    back = round_trip({"x": np.arange(5), "y": np.ones((2, 2), dtype=np.int8)}, "npz")
    assert set(back) == {"x", "y"}
    assert back["y"].dtype == np.int8
    np.testing.assert_array_equal(back["x"], np.arange(5))


def test_hdf5_nested_groups_datasets_and_attributes():
    data = {
        "beam": {"x": np.linspace(0, 1, 5), "n": 5, ATTRS_KEY: {"units": "m", "charge_pC": 250.0}},
        "label": "run-1",
        ATTRS_KEY: {"code": "impact-t"},
    }
    back = round_trip(data, "hdf5")
    np.testing.assert_array_equal(back["beam"]["x"], data["beam"]["x"])
    assert back["beam"]["n"] == 5 and back["label"] == "run-1"
    assert back["beam"][ATTRS_KEY] == {"units": "m", "charge_pC": 250.0}
    assert back[ATTRS_KEY] == {"code": "impact-t"}


def test_hdf5_names_the_key_it_cannot_store():
    with pytest.raises(TypeError, match="/beam/bad"):
        round_trip({"beam": {"bad": None}}, "hdf5")


def test_png_from_pillow_array_float_array_and_figure():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    pixels = np.zeros((4, 6, 3), dtype=np.uint8)
    pixels[0, 0] = (255, 0, 0)
    back = round_trip(pixels, "png")
    assert back.size == (6, 4) and back.getpixel((0, 0)) == (255, 0, 0)
    assert round_trip(Image.new("L", (3, 2), 7), "png").getpixel((1, 1)) == 7
    assert round_trip(np.random.default_rng(0).random((8, 8)), "png").size == (8, 8)
    figure = plt.figure(figsize=(2, 1), dpi=50)
    assert round_trip(figure, "png").size == (100, 50)
    plt.close(figure)


def test_choice_by_extension_is_case_insensitive():
    assert get_serializer(path="out/Data.H5").name == "hdf5"
    assert get_serializer(path="a.yml").name == "yaml"
    assert get_serializer(path="x.npz").name == "npz"


def test_unknown_extension_and_name_list_the_known_ones():
    with pytest.raises(UnknownSerializer) as by_ext:
        get_serializer(path="model.xyz")
    assert "model.xyz" in str(by_ext.value) and "hdf5" in str(by_ext.value) and ".json" in str(by_ext.value)
    with pytest.raises(UnknownSerializer, match="no serializer named 'protobuf'.*json"):
        get_serializer("protobuf")
    assert isinstance(by_ext.value, ValueError)


def test_pickle_only_by_name():
    with pytest.raises(UnknownSerializer):
        get_serializer(path="state.pkl")
    assert round_trip({"a": (1, 2)}, "pickle") == {"a": (1, 2)}


def test_third_party_serializer_through_entry_point(tmp_path, monkeypatch):
    (tmp_path / "upper_serializer.py").write_text(textwrap.dedent('''
        from lume_prefect.files.serializers import Serializer

        class UpperSerializer(Serializer):
            name = "upper"
            extensions = (".upper",)
            def dump(self, obj, f):
                f.write(obj.upper().encode())
            def load(self, f):
                return f.read().decode()
    '''))
    dist = tmp_path / "upper_serializer-1.0.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: upper-serializer\nVersion: 1.0\n")
    (dist / "entry_points.txt").write_text("[lume_prefect.serializers]\nupper = upper_serializer:UpperSerializer\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    try:
        registry.load_entry_points(force=True)
        assert get_serializer(path="notes.upper").name == "upper"
        assert round_trip("shout", "upper") == "SHOUT"
    finally:
        registry._by_name.pop("upper", None)
        registry._by_extension.pop(".upper", None)
        sys.modules.pop("upper_serializer", None)
