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
- DataFrames key by column names, each column's dtype and values, and the index;
- an openPMD ``ParticleGroup`` keys by its content: each coordinate array (dtype, shape,
  bytes) by name, and the species, so equal particles are the same input. It is stored as
  the openPMD HDF5 bytes the ``openpmd`` serializer writes, and read back as a ParticleGroup.

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
from collections.abc import Iterable, Sequence
from typing import Any

from lume_prefect.core.errors import LumeError
from lume_prefect.core.jsonfloats import PLAIN_FLOAT as _PLAIN_FLOAT, TAG, stored_float as _float
from lume_prefect.results.errors import InvalidResultValue
from lume_prefect.results.lume_values import distribution_values, is_distribution, is_particle_group, is_tensor, tensor_array

KEY_SCHEME = b"lume-result-key/1\x00"
INT64_MIN, INT64_MAX = -(2**63), 2**63 - 1
SUPPORTED = (
    "None, bool, int, float, str, list, tuple, dict with str keys, "
    "NumPy arrays and scalars, pandas DataFrames, torch tensors and distributions, openPMD ParticleGroups"
)

_PLAIN = (str, bool, type(None))
TOO_DEEP = "nested too deeply, or a dict or list that contains itself; store at most a few hundred levels"
_isfinite = math.isfinite
_copysign = math.copysign
# Floats of 1e16 and more, and -0.0, are stored tagged with their repr (a JSON column would
# give them back changed: see core/jsonfloats.py); the loops below inline stored_float's test.


# ---- encoding for storage ------------------------------------------------------
#
# Encoding and keying run for every Result, so both are written for speed: plain values are
# handled inline in the loops over dicts and lists (no call per value), and no path string is
# built while walking the values. A value that cannot be stored raises ``_Invalid`` where it
# is found; each enclosing dict and list adds its part of the path (".name", "[i]") while the
# error travels up, and the public functions raise InvalidResultValue with the whole path.


class _Invalid(LumeError):
    """A value that cannot be stored or keyed, with its path gathered on the way up."""

    def __init__(self, message: str):
        super().__init__(message)
        self.message = message
        self.parts: list[str] = []  # innermost first

    def at(self, field: str) -> InvalidResultValue:
        return InvalidResultValue(field + "".join(reversed(self.parts)), self.message)


def encode_values(values: Any, field: str, blobs: list[bytes], *, allow_nonfinite: bool) -> dict[str, Any]:
    """The JSON-able tree of ``values`` (a dict); arrays and DataFrames are appended to ``blobs``.

    Raises InvalidResultValue naming the dotted path of the first value that cannot be stored.
    """
    if type(values) is not dict:
        raise InvalidResultValue(field, f"must be a dict of names to values, got {type(values).__name__}")
    try:
        return _encode_dict(values, blobs, allow_nonfinite)
    except _Invalid as error:
        raise error.at(field) from error.__cause__
    except RecursionError:
        raise InvalidResultValue(field, TOO_DEEP) from None


def plain_float_rows(rows: Sequence[Any]) -> bool:
    """Whether each of ``rows`` is a dict of the same names, each a plain name, and every value
    a float stored as it is (finite, under 1e16, not -0.0): then ``encode_values`` of a row is
    a copy of it with no blobs. Checked column by column: a scan's points and outputs."""
    if not rows or type(rows[0]) is not dict or not rows[0]:
        return False
    names = rows[0].keys()
    for name in names:
        if type(name) is not str or not name or "." in name or name[0] == "$" or name == TAG or not name.isascii() or "\x00" in name:
            return False
    if not all(type(row) is dict and row.keys() == names for row in rows):
        return False
    for name in names:
        column = [row[name] for row in rows]
        if not all(type(value) is float for value in column) or not all(map(_isfinite, column)):
            return False
        if not (-_PLAIN_FLOAT < min(column) and max(column) < _PLAIN_FLOAT):
            return False
        if 0.0 in column and any(value == 0.0 and _copysign(1.0, value) < 0 for value in column):
            return False  # a -0.0: stored tagged
    return True


def _encode_dict(values: dict, blobs: list[bytes], allow_nonfinite: bool) -> dict[str, Any]:
    tree: dict[str, Any] = {}
    name: Any = None
    try:
        for name, value in values.items():
            if type(name) is not str or not name or "." in name or name[0] == "$" or name == TAG or not name.isascii() or "\x00" in name:
                _check_name(name)
            kind = type(value)
            if kind is str:
                if "\x00" in value or not value.isascii():
                    _check_text(value)
                tree[name] = value
            elif kind is bool or value is None:
                tree[name] = value
            elif kind is float and -_PLAIN_FLOAT < value < _PLAIN_FLOAT and (value or _copysign(1.0, value) > 0):
                tree[name] = value
            elif kind is int and INT64_MIN <= value <= INT64_MAX:
                tree[name] = value
            else:
                tree[name] = _encode(value, blobs, allow_nonfinite)
    except _Invalid as error:
        if type(name) is str:  # else the error is about the key itself: the path is this dict's
            error.parts.append(f".{name}")
        raise
    return tree


def _encode_list(values: list | tuple, blobs: list[bytes], allow_nonfinite: bool) -> list[Any]:
    items: list[Any] = []
    append = items.append
    try:
        for value in values:
            kind = type(value)
            if kind is float and -_PLAIN_FLOAT < value < _PLAIN_FLOAT and (value or _copysign(1.0, value) > 0):
                append(value)
            elif kind is str:
                if "\x00" in value or not value.isascii():
                    _check_text(value)
                append(value)
            elif kind is bool or value is None:
                append(value)
            elif kind is int and INT64_MIN <= value <= INT64_MAX:
                append(value)
            else:
                append(_encode(value, blobs, allow_nonfinite))
    except _Invalid as error:
        error.parts.append(f"[{len(items)}]")  # the items before the bad one are done
        raise
    return items


def _check_name(name: Any) -> None:
    if type(name) is not str:
        raise _Invalid(f"dict keys must be str, got {type(name).__name__} {name!r}")
    if not name or "." in name or name.startswith("$") or name == TAG:
        raise _Invalid("names must be non-empty, contain no '.', not start with '$' and not be '__lume__'")
    try:
        _check_text(name)
    except _Invalid as error:
        raise _Invalid(f"name {name!r}: {error.message}") from None


def _check_text(text: str) -> None:
    """Refuse a str no database stores faithfully: a NUL character, or a lone surrogate."""
    if "\x00" in text:
        raise _Invalid("contains a NUL character (\\x00), which the databases cannot store")
    try:
        text.encode("utf-8")
    except UnicodeEncodeError as error:
        raise _Invalid(f"is not valid Unicode: lone surrogate {text[error.start]!r} at index {error.start}") from None


def _encode(value: Any, blobs: list[bytes], allow_nonfinite: bool) -> Any:
    kind = type(value)
    if kind is str:
        _check_text(value)
        return value
    if kind in _PLAIN:
        return value
    if kind is int:
        return _check_int(value)
    if kind is float:
        if not _isfinite(value):
            return _nonfinite(value, allow_nonfinite)
        return _float(value)
    if kind is dict:
        return _encode_dict(value, blobs, allow_nonfinite)
    if kind is list:
        return _encode_list(value, blobs, allow_nonfinite)
    if kind is tuple:
        return {TAG: "tuple", "items": _encode_list(value, blobs, allow_nonfinite)}
    numpy = sys.modules.get("numpy")
    if numpy is not None:
        if isinstance(value, numpy.ndarray):
            if isinstance(value, numpy.ma.MaskedArray):
                raise _Invalid("cannot store a NumPy masked array: its mask would be lost; store a.filled(numpy.nan) "
                               "or the data and a.mask as two arrays")
            return {TAG: "ndarray", "blob": _add(blobs, _npy_bytes(value))}
        if isinstance(value, numpy.generic):
            return _encode_numpy_scalar(value, blobs, allow_nonfinite)
    pandas = sys.modules.get("pandas")
    if pandas is not None and isinstance(value, pandas.DataFrame):
        return {TAG: "dataframe", "blob": _add(blobs, _parquet_bytes(value))}
    if is_tensor(value):  # stored as NumPy: read back as NumPy (lume_values)
        return _encode(tensor_array(value), blobs, allow_nonfinite)
    if is_distribution(value):
        return _encode_dict(distribution_values(value), blobs, allow_nonfinite)
    if is_particle_group(value):
        return {TAG: "particles", "blob": _add(blobs, _openpmd_bytes(value))}
    raise _Invalid(f"cannot store {_describe(value)}; supported: {SUPPORTED}")


def _check_int(value: int) -> int:
    if not INT64_MIN <= value <= INT64_MAX:
        raise _Invalid(f"integer {value} does not fit in 64 bits; store it as a str or float")
    return value


def _nonfinite(value: float, allow: bool) -> Any:
    if not allow:
        raise _Invalid(
            f"{value!r} is not allowed in inputs (NaN != NaN, so such a run could never be found "
            "again by its key); NaN and infinities are allowed in outputs and inside arrays",
        )
    return {TAG: "float", "value": repr(value)}


def _encode_numpy_scalar(value: Any, blobs: list[bytes], allow_nonfinite: bool) -> Any:
    dtype = value.dtype
    if dtype.kind in "biuf":  # plain numbers stay numbers in the tree, so queries find them
        item = value.item()
        if dtype.kind == "f" and not math.isfinite(item):
            _nonfinite(item, allow_nonfinite)
            item = repr(item)
        elif dtype.kind == "f" and type(_float(item)) is dict:
            item = repr(item)
        if dtype.kind not in "iu" or INT64_MIN <= item <= INT64_MAX:  # a uint64 above 2**63-1 goes in a blob
            return {TAG: "scalar", "dtype": dtype.str, "value": item}
    import numpy

    return {TAG: "scalar", "dtype": dtype.str, "blob": _add(blobs, _npy_bytes(numpy.asarray(value)))}


def _add(blobs: list[bytes], data: bytes) -> int:
    blobs.append(data)
    return len(blobs) - 1


def _npy_bytes(array: Any) -> bytes:
    import numpy

    if array.dtype.hasobject:
        raise _Invalid(f"cannot store a NumPy array of dtype {array.dtype} (Python objects); use a numeric, bool or string dtype")
    buffer = io.BytesIO()
    numpy.lib.format.write_array(buffer, array, allow_pickle=False)
    return buffer.getvalue()


def _openpmd_bytes(particles: Any) -> bytes:
    """A ParticleGroup as the HDF5 file the ``openpmd`` serializer writes (openPMD's layout)."""
    from lume_prefect.files.serializers import OpenPMDSerializer

    buffer = io.BytesIO()
    OpenPMDSerializer().dump(particles, buffer)
    return buffer.getvalue()


def _parquet_bytes(frame: Any) -> bytes:
    bad = [c for c in frame.columns if not isinstance(c, str)]
    if bad:
        raise _Invalid(f"DataFrame column names must be str, got {bad[0]!r}")
    buffer = io.BytesIO()
    try:
        frame.to_parquet(buffer, engine="pyarrow", index=True)
    except Exception as exc:  # noqa: BLE001 - pyarrow raises several types for unstorable columns
        raise _Invalid(f"DataFrame cannot be stored as Parquet: {exc}") from exc
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


# int subclasses a driver returns for integers (BSON's Int64), given back as int
_WIDE_INTS: set[type] = set()


def read_as_int(kind: type) -> None:
    """Have ``decode_values`` give values of the int subclass ``kind`` (a driver's) back as int."""
    _WIDE_INTS.add(kind)


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
        return int(value) if kind in _WIDE_INTS else value
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
    if tag == "particles":
        from lume_prefect.files.serializers import OpenPMDSerializer

        return OpenPMDSerializer().load(io.BytesIO(blobs[value["blob"]]))
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
#
# The canonical encoding is gathered as a list of byte strings and hashed in one piece (the
# same bytes as feeding them one by one, so the same digest); array data of at least
# _LARGE bytes goes to the hash at once instead, so it is never copied again.

_PACK_Q = struct.Struct("<Q").pack
_LARGE = 1 << 16
# a tag and the 8-byte length that follows it, for the short lengths almost every value has
_STR_PREFIX = [b"S" + _PACK_Q(n) for n in range(256)]
_INT_PREFIX = [b"I" + _PACK_Q(n) for n in range(256)]
_REAL_PREFIX = [b"R" + _PACK_Q(n) for n in range(256)]
# the encoded form of dict keys, model names and versions, which recur in every key
_NAME_CACHE: dict[str, bytes] = {}
_NAME_CACHE_SIZE = 4096


class _KeyBytes(list):
    """The canonical bytes of a key so far; ``digest`` holds what was hashed early."""

    digest: Any = None

    def feed_large(self, data: bytes) -> None:
        if self.digest is None:
            self.digest = hashlib.sha256()
        self.digest.update(b"".join(self))
        self.clear()
        self.digest.update(data)

    def hexdigest(self) -> str:
        if self.digest is None:
            return hashlib.sha256(b"".join(self)).hexdigest()
        self.digest.update(b"".join(self))
        return self.digest.hexdigest()


def result_key(model: str, version: str, inputs: dict[str, Any]) -> str:
    """SHA-256 (hex) of the canonical encoding of (model, version, inputs); see the module doc."""
    out = _KeyBytes((KEY_SCHEME, _key_name(model), _key_name(version)))
    try:
        _key(out, inputs)
    except _Invalid as error:
        raise error.at("inputs") from error.__cause__
    return out.hexdigest()


def result_keys(model: str, version: str, inputs: Iterable[dict[str, Any]]) -> list[str]:
    """``result_key`` of each inputs dict of one model version (a scan's points), in order.

    The same bytes as ``result_key`` (pinned by tests): the scheme, model and version are
    encoded once for all, and each point's canonical bytes are joined and hashed in one call.
    A value that cannot be keyed raises InvalidResultValue naming ``points[i]`` and the input.
    """
    head = KEY_SCHEME + _key_name(model) + _key_name(version)
    sha256 = hashlib.sha256
    if isinstance(inputs, list):
        keyed = _float_point_keys(head, inputs)
        if keyed is not None:
            return keyed
    keys = []
    for index, values in enumerate(inputs):
        out = _KeyBytes((head,))
        try:
            if type(values) is not dict:
                raise _Invalid(f"must be a dict of names to values, got {type(values).__name__}")
            _key_dict(out, values)
        except _Invalid as error:
            raise error.at(f"points[{index}].inputs") from error.__cause__
        keys.append(sha256(b"".join(out)).hexdigest() if out.digest is None else out.hexdigest())
    return keys


def _float_point_keys(head: bytes, points: list[Any]) -> list[str] | None:
    """``result_keys`` of points that are dicts of the same str names, every value a float (a
    surrogate's scan), built column by column: each name's bytes and each value's made in one
    pass over its column, then joined and hashed per point. The same bytes as ``_key_dict``
    (pinned by a test); None when any point is otherwise (then each is keyed on its own)."""
    if not points or type(points[0]) is not dict or not points[0]:
        return None
    names = points[0].keys()
    if not all(type(name) is str for name in names) or not all(type(point) is dict and point.keys() == names for point in points):
        return None
    columns = []
    for name in sorted(names):
        column = [point[name] for point in points]
        if not all(type(value) is float for value in column):
            return None
        encoded = _key_name(name)
        columns.append([encoded + _float_key(value) for value in column])
    prefix = b"D" + _PACK_Q(len(names))
    start = head + prefix
    sha256, join = hashlib.sha256, b"".join
    return [sha256(start + join(row)).hexdigest() for row in zip(*columns)]


def _float_key(value: float) -> bytes:
    """What ``_key`` adds for a float: an integral one as the int, any other by its repr."""
    if value.is_integer():
        data = b"%d" % value
        size = len(data)
        return (_INT_PREFIX[size] if size < 256 else b"I" + _PACK_Q(size)) + data
    data = b"%r" % value
    size = len(data)
    return (_REAL_PREFIX[size] if size < 256 else b"R" + _PACK_Q(size)) + data


def value_key(value: Any) -> str:
    """SHA-256 (hex) of the canonical encoding of one input value (the bytes it adds to a
    result key): equal content, equal key. A ParticleGroup input's file is named by it."""
    out = _KeyBytes((KEY_SCHEME, b"value\x00"))
    try:
        _key(out, value)
    except _Invalid as error:
        raise error.at("value") from error.__cause__
    return out.hexdigest()


def _key_str(out: list[bytes], text: str) -> None:
    data = text.encode("utf-8")
    size = len(data)
    out.append(_STR_PREFIX[size] if size < 256 else b"S" + _PACK_Q(size))
    out.append(data)


def _key_name(text: str) -> bytes:
    """What _key_str adds for ``text``, in one piece; remembered for (a bounded number of) str."""
    exact = type(text) is str
    if exact:
        encoded = _NAME_CACHE.get(text)
        if encoded is not None:
            return encoded
    data = text.encode("utf-8")
    size = len(data)
    encoded = (_STR_PREFIX[size] if size < 256 else b"S" + _PACK_Q(size)) + data
    if exact and len(_NAME_CACHE) < _NAME_CACHE_SIZE:
        _NAME_CACHE[text] = encoded
    return encoded


def _key_number(out: list[bytes], value: float | int) -> None:
    if isinstance(value, float):
        if value.is_integer():
            value = int(value)
        else:
            data = repr(value).encode("ascii")
            size = len(data)
            out.append(_REAL_PREFIX[size] if size < 256 else b"R" + _PACK_Q(size))
            out.append(data)
            return
    data = str(value).encode("ascii")
    size = len(data)
    out.append(_INT_PREFIX[size] if size < 256 else b"I" + _PACK_Q(size))
    out.append(data)


def _key(out: list[bytes], value: Any) -> None:
    kind = type(value)
    if value is None:
        out.append(b"N")
    elif kind is bool:
        out.append(b"T" if value else b"F")
    elif kind is str:
        _key_str(out, value)
    elif kind is int or kind is float:
        _key_number(out, value)
    elif kind is dict:
        _key_dict(out, value)
    elif kind is list or kind is tuple:
        _key_list(out, value)
    else:
        _key_library_value(out, value)


def _key_dict(out: list[bytes], values: dict) -> None:
    append = out.append
    append(b"D" + _PACK_Q(len(values)))
    name: Any = None
    try:
        for name in sorted(values):
            append(_key_name(name))
            value = values[name]
            kind = type(value)
            # the common cases of _key, inline (b"%d" and b"%r" are str() and repr() as ASCII)
            if kind is str:
                data = value.encode("utf-8")
                size = len(data)
                append(_STR_PREFIX[size] if size < 256 else b"S" + _PACK_Q(size))
                append(data)
            elif kind is int:
                data = b"%d" % value
                size = len(data)
                append(_INT_PREFIX[size] if size < 256 else b"I" + _PACK_Q(size))
                append(data)
            elif kind is float and not value.is_integer():
                data = b"%r" % value
                size = len(data)
                append(_REAL_PREFIX[size] if size < 256 else b"R" + _PACK_Q(size))
                append(data)
            else:
                _key(out, value)
    except _Invalid as error:
        error.parts.append(f".{name}")
        raise


def _key_list(out: list[bytes], values: list | tuple) -> None:
    out.append(b"L" + _PACK_Q(len(values)))
    i = 0
    try:
        for i, item in enumerate(values):
            _key(out, item)
    except _Invalid as error:
        error.parts.append(f"[{i}]")
        raise


def _key_library_value(out: _KeyBytes, value: Any) -> None:
    numpy = sys.modules.get("numpy")
    pandas = sys.modules.get("pandas")
    if numpy is not None and isinstance(value, numpy.generic):
        kind = value.dtype.kind
        if kind == "b":
            _key(out, bool(value))
        elif kind in "iuf":
            _key_number(out, value.item())
        else:
            _key_array(out, numpy.asarray(value))
    elif numpy is not None and isinstance(value, numpy.ndarray):
        _key_array(out, value)
    elif is_tensor(value):  # the key of its NumPy array, as it is stored
        _key(out, tensor_array(value))
    elif is_particle_group(value):  # its content: each coordinate's dtype, shape and bytes; the species as text
        out.append(b"G")
        _key_dict(out, {name: v if isinstance(v, numpy.ndarray) else str(v) for name, v in value.data.items()})
    elif pandas is not None and isinstance(value, pandas.DataFrame):
        out.append(b"P" + _PACK_Q(value.shape[1]))
        for i, name in enumerate(value.columns):
            _key_str(out, str(name))
            try:
                _key_column(out, value.iloc[:, i])
            except _Invalid as error:
                error.parts.append(f".{name}")
                raise
        try:
            _key_column(out, value.index)
        except _Invalid as error:
            error.parts.append(".index")
            raise
    else:
        raise _Invalid(f"cannot key {_describe(value)}; supported: {SUPPORTED}")


def _key_array(out: _KeyBytes, array: Any) -> None:
    import numpy

    dtype = array.dtype if array.dtype.byteorder == "|" else array.dtype.newbyteorder("<")
    canonical = numpy.ascontiguousarray(array, dtype=dtype)
    dtype_name = dtype.str.encode("ascii")
    out.append(b"A" + _PACK_Q(len(dtype_name)))
    out.append(dtype_name)
    out.append(struct.pack(f"<{1 + canonical.ndim}Q", canonical.ndim, *canonical.shape))
    data = canonical.tobytes()
    out.append(b"B" + _PACK_Q(len(data)))
    if len(data) >= _LARGE:
        out.feed_large(data)
    else:
        out.append(data)


def _key_column(out: _KeyBytes, column: Any) -> None:
    """A Series or Index: its dtype, then its values (as an array when NumPy holds them)."""
    import numpy

    _key_str(out, str(column.dtype))
    values = column.to_numpy()
    if isinstance(column.dtype, numpy.dtype) and not values.dtype.hasobject:
        _key_array(out, values)
    else:
        _key(out, values.tolist())
