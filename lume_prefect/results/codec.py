"""How a result's values become stored data and a key, without any database.

``encode_values`` turns ``inputs``/``outputs`` into a JSON-able tree plus a list of binary
blobs: NumPy arrays as ``.npy`` bytes and DataFrames as Parquet bytes, each replaced in the
tree by a small tagged dict (``{"__lume__": "ndarray", "blob": 0}``). Both stores keep the
tree as JSON/BSON (so plain values stay queryable) and the blobs as binary, and
``decode_values`` restores the same types, dtypes and shapes.

``result_key`` is the SHA-256 of a canonical, length-prefixed encoding of (model, version,
inputs). It is defined here, byte for byte, and versioned by ``KEY_SCHEME``, so it is the
same in every process, platform and release that keeps that scheme:

- dict keys are sorted, so key order never matters;
- a number is its value: ``1``, ``1.0``, ``numpy.int64(1)`` and ``numpy.float64(1.0)`` give
  the same key (a YAML ``1`` and a ``1.0`` are the same physical input); ``True`` is not ``1``;
- lists and tuples are both sequences and key alike;
- arrays key by dtype, shape and little-endian bytes: an ``int64`` and a ``float64`` array
  are different inputs (a model receives them differently);
- DataFrames key by column names, each column's dtype and values, and the index.

NaN and infinities: not allowed as scalars in ``inputs`` (NaN != NaN makes such a key
useless for finding a run again); allowed in ``outputs`` (stored tagged, restored as floats),
and anywhere inside arrays and DataFrames, which are stored and keyed by their bytes.
Integers must fit in 64 bits (what MongoDB and SQL JSON keep exactly).
"""

from __future__ import annotations

import hashlib
import io
import math
import struct
import sys
from typing import Any

from lume_prefect.results.errors import InvalidResultValue

TAG = "__lume__"
KEY_SCHEME = b"lume-result-key/1\x00"
INT64_MIN, INT64_MAX = -(2**63), 2**63 - 1
SUPPORTED = (
    "None, bool, int, float, str, list, tuple, dict with str keys, "
    "NumPy arrays and scalars, pandas DataFrames"
)

_PLAIN = (str, bool, type(None))


# ---- encoding for storage ------------------------------------------------------


def encode_values(values: Any, field: str, blobs: list[bytes], *, allow_nonfinite: bool) -> dict[str, Any]:
    """The JSON-able tree of ``values`` (a dict); arrays and DataFrames are appended to ``blobs``.

    Raises InvalidResultValue naming the dotted path of the first value that cannot be stored.
    """
    if type(values) is not dict:
        raise InvalidResultValue(field, f"must be a dict of names to values, got {type(values).__name__}")
    return _encode_dict(values, field, blobs, allow_nonfinite)


def _encode_dict(values: dict, path: str, blobs: list[bytes], allow_nonfinite: bool) -> dict[str, Any]:
    return {_check_name(k, path): _encode(v, f"{path}.{k}", blobs, allow_nonfinite) for k, v in values.items()}


def _check_name(name: Any, path: str) -> str:
    if type(name) is not str:
        raise InvalidResultValue(path, f"dict keys must be str, got {type(name).__name__} {name!r}")
    if not name or "." in name or name.startswith("$") or name == TAG:
        raise InvalidResultValue(
            f"{path}.{name}", "names must be non-empty, contain no '.', not start with '$' and not be '__lume__'"
        )
    return name


def _encode(value: Any, path: str, blobs: list[bytes], allow_nonfinite: bool) -> Any:
    kind = type(value)
    if kind in _PLAIN:
        return value
    if kind is int:
        return _check_int(value, path)
    if kind is float:
        return value if math.isfinite(value) else _nonfinite(value, path, allow_nonfinite)
    if kind is dict:
        return _encode_dict(value, path, blobs, allow_nonfinite)
    if kind is list:
        return [_encode(v, f"{path}[{i}]", blobs, allow_nonfinite) for i, v in enumerate(value)]
    if kind is tuple:
        return {TAG: "tuple", "items": [_encode(v, f"{path}[{i}]", blobs, allow_nonfinite) for i, v in enumerate(value)]}
    numpy = sys.modules.get("numpy")
    if numpy is not None:
        if isinstance(value, numpy.ndarray):
            return {TAG: "ndarray", "blob": _add(blobs, _npy_bytes(value, path))}
        if isinstance(value, numpy.generic):
            return _encode_numpy_scalar(value, path, blobs, allow_nonfinite)
    pandas = sys.modules.get("pandas")
    if pandas is not None and isinstance(value, pandas.DataFrame):
        return {TAG: "dataframe", "blob": _add(blobs, _parquet_bytes(value, path))}
    raise InvalidResultValue(path, f"cannot store {_describe(value)}; supported: {SUPPORTED}")


def _check_int(value: int, path: str) -> int:
    if not INT64_MIN <= value <= INT64_MAX:
        raise InvalidResultValue(path, f"integer {value} does not fit in 64 bits; store it as a str or float")
    return value


def _nonfinite(value: float, path: str, allow: bool) -> Any:
    if not allow:
        raise InvalidResultValue(
            path,
            f"{value!r} is not allowed in inputs (NaN != NaN, so such a run could never be found "
            "again by its key); NaN and infinities are allowed in outputs and inside arrays",
        )
    return {TAG: "float", "value": repr(value)}


def _encode_numpy_scalar(value: Any, path: str, blobs: list[bytes], allow_nonfinite: bool) -> Any:
    dtype = value.dtype
    if dtype.kind in "biuf":  # plain numbers stay numbers in the tree, so queries find them
        item = value.item()
        if dtype.kind == "f" and not math.isfinite(item):
            _nonfinite(item, path, allow_nonfinite)
            item = repr(item)
        return {TAG: "scalar", "dtype": dtype.str, "value": item}
    import numpy

    return {TAG: "scalar", "dtype": dtype.str, "blob": _add(blobs, _npy_bytes(numpy.asarray(value), path))}


def _add(blobs: list[bytes], data: bytes) -> int:
    blobs.append(data)
    return len(blobs) - 1


def _npy_bytes(array: Any, path: str) -> bytes:
    import numpy

    if array.dtype.hasobject:
        raise InvalidResultValue(path, f"cannot store a NumPy array of dtype {array.dtype} (Python objects); use a numeric, bool or string dtype")
    buffer = io.BytesIO()
    numpy.lib.format.write_array(buffer, array, allow_pickle=False)
    return buffer.getvalue()


def _parquet_bytes(frame: Any, path: str) -> bytes:
    bad = [c for c in frame.columns if not isinstance(c, str)]
    if bad:
        raise InvalidResultValue(path, f"DataFrame column names must be str, got {bad[0]!r}")
    buffer = io.BytesIO()
    try:
        frame.to_parquet(buffer, engine="pyarrow", index=True)
    except Exception as exc:  # noqa: BLE001 - pyarrow raises several types for unstorable columns
        raise InvalidResultValue(path, f"DataFrame cannot be stored as Parquet: {exc}") from exc
    return buffer.getvalue()


def _describe(value: Any) -> str:
    if hasattr(value, "read") and hasattr(value, "close"):
        what = "an open file or stream"
        hint = "; write it through a file block and keep its FileRef in files"
        return f"{what} ({type(value).__name__}){hint}"
    if callable(value):
        return f"a callable ({type(value).__name__} {getattr(value, '__qualname__', '')})".replace(" )", ")")
    return f"a value of type {type(value).__module__}.{type(value).__qualname__}"


# ---- decoding ----------------------------------------------------------------------


def decode_values(tree: dict[str, Any] | None, blobs: list[bytes]) -> dict[str, Any]:
    """The inverse of ``encode_values``: the same types, dtypes and shapes."""
    if not tree:
        return {}
    return {k: _decode(v, blobs) for k, v in tree.items()}


def _decode(value: Any, blobs: list[bytes]) -> Any:
    kind = type(value)
    if kind is list:
        return [_decode(v, blobs) for v in value]
    if kind is not dict:
        return value
    tag = value.get(TAG)
    if tag is None:
        return {k: _decode(v, blobs) for k, v in value.items()}
    if tag == "float":
        return float(value["value"])
    if tag == "tuple":
        return tuple(_decode(v, blobs) for v in value["items"])
    if tag == "ndarray":
        return _read_npy(blobs[value["blob"]])
    if tag == "scalar":
        import numpy

        if "blob" in value:
            return _read_npy(blobs[value["blob"]])[()]
        item = value["value"]
        return numpy.dtype(value["dtype"]).type(float(item) if isinstance(item, str) else item)
    if tag == "dataframe":
        import pandas

        return pandas.read_parquet(io.BytesIO(blobs[value["blob"]]), engine="pyarrow")
    raise ValueError(f"unknown stored value tag {tag!r}; is this package older than the one that wrote it?")


def _read_npy(data: bytes) -> Any:
    import numpy

    return numpy.lib.format.read_array(io.BytesIO(data), allow_pickle=False)


# ---- blobs in one column ----------------------------------------------------------


def pack_blobs(blobs: list[bytes]) -> bytes | None:
    """Blobs as one byte string: each an 8-byte little-endian length, then its bytes."""
    if not blobs:
        return None
    return b"".join(struct.pack("<Q", len(b)) + b for b in blobs)


def unpack_blobs(data: bytes | None) -> list[bytes]:
    blobs, offset, view = [], 0, memoryview(data or b"")
    while offset < len(view):
        (size,) = struct.unpack_from("<Q", view, offset)
        offset += 8
        blobs.append(bytes(view[offset : offset + size]))
        offset += size
    return blobs


# ---- the key ------------------------------------------------------------------------


def result_key(model: str, version: str, inputs: dict[str, Any]) -> str:
    """SHA-256 (hex) of the canonical encoding of (model, version, inputs); see the module doc."""
    digest = hashlib.sha256(KEY_SCHEME)
    _feed_str(digest, model)
    _feed_str(digest, version)
    _feed(digest, inputs, "inputs")
    return digest.hexdigest()


def _feed_bytes(digest: Any, tag: bytes, data: bytes) -> None:
    digest.update(tag + struct.pack("<Q", len(data)))
    digest.update(data)


def _feed_str(digest: Any, text: str) -> None:
    _feed_bytes(digest, b"S", text.encode("utf-8"))


def _feed_number(digest: Any, value: float | int) -> None:
    if isinstance(value, float):
        if value.is_integer():
            value = int(value)
        else:
            _feed_bytes(digest, b"R", repr(value).encode("ascii"))
            return
    _feed_bytes(digest, b"I", str(value).encode("ascii"))


def _feed(digest: Any, value: Any, path: str) -> None:
    kind = type(value)
    if value is None:
        digest.update(b"N")
    elif kind is bool:
        digest.update(b"T" if value else b"F")
    elif kind is str:
        _feed_str(digest, value)
    elif kind is int or kind is float:
        _feed_number(digest, value)
    elif kind is dict:
        digest.update(b"D" + struct.pack("<Q", len(value)))
        for name in sorted(value):
            _feed_str(digest, name)
            _feed(digest, value[name], f"{path}.{name}")
    elif kind is list or kind is tuple:
        digest.update(b"L" + struct.pack("<Q", len(value)))
        for i, item in enumerate(value):
            _feed(digest, item, f"{path}[{i}]")
    else:
        _feed_library_value(digest, value, path)


def _feed_library_value(digest: Any, value: Any, path: str) -> None:
    numpy = sys.modules.get("numpy")
    pandas = sys.modules.get("pandas")
    if numpy is not None and isinstance(value, numpy.generic):
        kind = value.dtype.kind
        if kind == "b":
            _feed(digest, bool(value), path)
        elif kind in "iuf":
            _feed_number(digest, value.item())
        else:
            _feed_array(digest, numpy.asarray(value))
    elif numpy is not None and isinstance(value, numpy.ndarray):
        _feed_array(digest, value)
    elif pandas is not None and isinstance(value, pandas.DataFrame):
        digest.update(b"P" + struct.pack("<Q", value.shape[1]))
        for i, name in enumerate(value.columns):
            _feed_str(digest, str(name))
            _feed_column(digest, value.iloc[:, i], f"{path}.{name}")
        _feed_column(digest, value.index, f"{path}.index")
    else:
        raise InvalidResultValue(path, f"cannot key {_describe(value)}; supported: {SUPPORTED}")


def _feed_array(digest: Any, array: Any) -> None:
    import numpy

    dtype = array.dtype if array.dtype.byteorder == "|" else array.dtype.newbyteorder("<")
    canonical = numpy.ascontiguousarray(array, dtype=dtype)
    _feed_bytes(digest, b"A", dtype.str.encode("ascii"))
    digest.update(struct.pack(f"<{1 + canonical.ndim}Q", canonical.ndim, *canonical.shape))
    _feed_bytes(digest, b"B", canonical.tobytes())


def _feed_column(digest: Any, column: Any, path: str) -> None:
    """A Series or Index: its dtype, then its values (as an array when NumPy holds them)."""
    import numpy

    _feed_str(digest, str(column.dtype))
    values = column.to_numpy()
    if isinstance(column.dtype, numpy.dtype) and not values.dtype.hasobject:
        _feed_array(digest, values)
    else:
        _feed(digest, values.tolist(), path)
