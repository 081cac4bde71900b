"""Serializers: how a Python object becomes the bytes of a file and back.

A serializer is chosen by name, else (writing) by the object's type for the types a
serializer claims (an openPMD ``ParticleGroup``: ``openpmd``), else by the file's extension;
reading without a name, a serializer may hand the file to a more specific one after a look
at its content (an HDF5 file whose root says openPMD particles: ``openpmd``). Third-party packages add
their own through the ``lume_prefect.serializers`` entry point group; each entry point
names a :class:`Serializer` subclass or instance. Pickle is never chosen by extension:
only ``serializer="pickle"`` uses it, because loading a pickle runs code.

Heavy libraries (NumPy, h5py, Pillow, matplotlib) are imported on first use.
"""

from __future__ import annotations

import importlib.util
import json
import shutil
import sys
from importlib.metadata import entry_points
from typing import Any, BinaryIO, Optional

from lume_prefect.files.errors import UnknownSerializer

ENTRY_POINT_GROUP = "lume_prefect.serializers"
CHUNK_SIZE = 8 * 1024 * 1024


class Serializer:
    """Turns objects into a file's bytes and back.

    Subclasses set ``name`` and ``extensions`` and implement ``dump`` and ``load``.
    ``dump`` writes to a binary file object; set ``needs_seekable = True`` when the
    format has to seek while writing (zip, HDF5): the file service then spools the
    output to a temporary file before streaming it to its destination.
    """

    name: str = ""
    extensions: tuple[str, ...] = ()
    needs_seekable: bool = False

    def dump(self, obj: Any, f: BinaryIO) -> None:
        raise NotImplementedError

    def load(self, f: BinaryIO) -> Any:
        raise NotImplementedError

    def claims(self, obj: Any) -> bool:
        """Whether writing ``obj`` without a serializer name uses this one, whatever the extension."""
        return False

    def sniff(self, f: BinaryIO) -> Optional[str]:
        """Reading by extension: the name of a more specific serializer for this file's content, or None."""
        return None

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.name!r}>"


def _is_readable_stream(obj: Any) -> bool:
    return hasattr(obj, "read") and callable(obj.read)


class BytesSerializer(Serializer):
    """Raw bytes. ``dump`` also takes a binary file object and streams it in chunks."""

    name = "bytes"
    extensions = (".bin", ".dat", ".raw")

    def dump(self, obj: Any, f: BinaryIO) -> None:
        if _is_readable_stream(obj):
            shutil.copyfileobj(obj, f, CHUNK_SIZE)
        elif isinstance(obj, (bytes, bytearray, memoryview)):
            f.write(obj)
        else:
            raise TypeError(f"bytes serializer needs bytes or a binary file object, got {type(obj).__name__}")

    def load(self, f: BinaryIO) -> bytes:
        return f.read()


class TextSerializer(Serializer):
    """UTF-8 text. ``dump`` also takes a text file object and streams it in chunks."""

    name = "text"
    extensions = (".txt", ".log", ".md", ".csv", ".tsv", ".in", ".out", ".lat", ".py", ".sh")

    def dump(self, obj: Any, f: BinaryIO) -> None:
        if _is_readable_stream(obj):
            while chunk := obj.read(CHUNK_SIZE):
                f.write(chunk.encode("utf-8") if isinstance(chunk, str) else chunk)
        elif isinstance(obj, str):
            f.write(obj.encode("utf-8"))
        else:
            raise TypeError(f"text serializer needs a str or a text file object, got {type(obj).__name__}")

    def load(self, f: BinaryIO) -> str:
        return f.read().decode("utf-8")


def _json_default(obj: Any) -> Any:
    # NumPy values are common in model inputs and outputs; JSON has lists and numbers.
    if hasattr(obj, "tolist"):
        return obj.tolist()
    if hasattr(obj, "isoformat"):
        return obj.isoformat()
    raise TypeError(f"object of type {type(obj).__name__} is not JSON serializable")


class JSONSerializer(Serializer):
    """Standard JSON (UTF-8). NumPy arrays and scalars are written as lists and numbers.

    NaN and infinities are refused: JSON has no token for them (Python's ``NaN`` is not
    JSON and other readers reject it); store such arrays as ``.npy``, ``.npz`` or ``.h5``.
    """

    name = "json"
    extensions = (".json",)

    def dump(self, obj: Any, f: BinaryIO) -> None:
        try:
            text = json.dumps(obj, default=_json_default, indent=2, allow_nan=False)
        except ValueError as exc:
            if "JSON compliant" not in str(exc):
                raise
            raise ValueError("NaN and infinities have no JSON form; use None, or write .npy, .npz or .h5") from None
        f.write(text.encode("utf-8"))

    def load(self, f: BinaryIO) -> Any:
        return json.load(f)


class YAMLSerializer(Serializer):
    """YAML through ``yaml.safe_dump``/``safe_load``: plain data only, no Python tags."""

    name = "yaml"
    extensions = (".yaml", ".yml")

    def dump(self, obj: Any, f: BinaryIO) -> None:
        import yaml

        f.write(yaml.safe_dump(obj, sort_keys=False, allow_unicode=True).encode("utf-8"))

    def load(self, f: BinaryIO) -> Any:
        import yaml

        return yaml.safe_load(f)


class NpySerializer(Serializer):
    """One NumPy array in ``.npy`` format (object arrays refused: they would need pickle)."""

    name = "npy"
    extensions = (".npy",)

    def dump(self, obj: Any, f: BinaryIO) -> None:
        import numpy as np

        np.save(f, np.asarray(obj), allow_pickle=False)

    def load(self, f: BinaryIO) -> Any:
        import numpy as np

        return np.load(f, allow_pickle=False)


class NpzSerializer(Serializer):
    """A dict of NumPy arrays in ``.npz`` format; loads back as a plain dict."""

    name = "npz"
    extensions = (".npz",)
    needs_seekable = True

    def dump(self, obj: Any, f: BinaryIO) -> None:
        import numpy as np

        if not isinstance(obj, dict):
            raise TypeError(f"npz serializer needs a dict of arrays, got {type(obj).__name__}")
        np.savez(f, **{str(k): np.asarray(v) for k, v in obj.items()})

    def load(self, f: BinaryIO) -> dict[str, Any]:
        import numpy as np

        with np.load(f, allow_pickle=False) as archive:
            return {k: archive[k] for k in archive.files}


ATTRS_KEY = "@attrs"


class HDF5Serializer(Serializer):
    """Nested dicts in HDF5: a dict is a group, an array or scalar a dataset.

    The reserved key ``"@attrs"`` of a dict holds that group's attributes. Loading
    returns the same shape: arrays as NumPy arrays, scalars as Python values, strings
    as ``str``.

    Example: ``{"beam": {"x": np.zeros(10), "@attrs": {"units": "m"}}, "@attrs": {"code": "impact"}}``
    """

    name = "hdf5"
    extensions = (".h5", ".hdf5", ".hdf")
    needs_seekable = True

    def dump(self, obj: Any, f: BinaryIO) -> None:
        import h5py

        if not isinstance(obj, dict):
            raise TypeError(f"hdf5 serializer needs a dict, got {type(obj).__name__}")
        with h5py.File(f, "w") as h5:
            _write_group(h5, obj, "")

    def load(self, f: BinaryIO) -> dict[str, Any]:
        import h5py

        with h5py.File(f, "r") as h5:
            return _read_group(h5)

    def sniff(self, f: BinaryIO) -> Optional[str]:
        """``openpmd`` for openPMD particles (root attributes ``dataType`` openPMD and a
        ``particlesPath``) when openpmd-beamphysics is installed."""
        if not any(importlib.util.find_spec(name) for name in PARTICLE_MODULES):
            return None
        import h5py

        with h5py.File(f, "r") as h5:
            attrs = h5.attrs
            if _python_value(attrs.get("dataType")) == "openPMD" and "particlesPath" in attrs:
                return OpenPMDSerializer.name
        return None


def _write_group(group: Any, data: dict, where: str) -> None:
    import numpy as np

    for key, value in data.items():
        if not isinstance(key, str) or not key or "/" in key or key == ".":
            # h5py would read 1 back as "1" and "a/b" as a nested group: refused rather than changed
            raise TypeError(f"{where or '/'}: key {key!r} must be a non-empty str without '/' (HDF5 names)")
        if key == ATTRS_KEY:
            if not isinstance(value, dict):
                raise TypeError(f"{where or '/'}: {ATTRS_KEY} must be a dict, got {type(value).__name__}")
            for name, attr in value.items():
                group.attrs[str(name)] = attr
        elif isinstance(value, dict):
            _write_group(group.create_group(str(key)), value, f"{where}/{key}")
        elif value is None:
            raise TypeError(f"{where}/{key}: None cannot be stored in HDF5")
        elif isinstance(value, str):
            group.create_dataset(str(key), data=value)
        else:
            array = np.asarray(value)
            if array.dtype == object:
                raise TypeError(f"{where}/{key}: object arrays cannot be stored in HDF5")
            group.create_dataset(str(key), data=array)


def _python_value(value: Any) -> Any:
    import numpy as np

    if isinstance(value, bytes):
        return value.decode("utf-8")
    if isinstance(value, np.generic):
        return value.item()
    return value


def _read_group(group: Any) -> dict[str, Any]:
    import h5py

    out: dict[str, Any] = {}
    for key, item in group.items():
        if isinstance(item, h5py.Group):
            out[key] = _read_group(item)
        elif item.shape == ():
            out[key] = _python_value(item[()])
        else:
            out[key] = item[()]
    if group.attrs:
        out[ATTRS_KEY] = {k: _python_value(v) for k, v in group.attrs.items()}
    return out


PARTICLE_MODULES = ("beamphysics", "pmd_beamphysics")  # openpmd-beamphysics 0.16 renamed its package


def particle_group_class() -> Any:
    """openpmd-beamphysics' ParticleGroup if it is imported (a ParticleGroup cannot exist otherwise), else None."""
    for name in PARTICLE_MODULES:
        module = sys.modules.get(name)
        if module is not None and hasattr(module, "ParticleGroup"):
            return module.ParticleGroup
    return None


def is_particle_group(obj: Any) -> bool:
    group = particle_group_class()
    return group is not None and isinstance(obj, group)


class OpenPMDSerializer(Serializer):
    """openPMD particles: an openpmd-beamphysics ``ParticleGroup`` in HDF5, written and read by
    openpmd-beamphysics itself (``ParticleGroup.write``, ``ParticleGroup(h5)``).

    Chosen by name, for any ParticleGroup written without a name (``files.write("beam.h5",
    particles)``), by the extension ``.openpmd.h5``, and reading an ``.h5`` file whose root
    attributes say openPMD particles; ``serializer="hdf5"`` reads such a file as nested dicts.
    """

    name = "openpmd"
    extensions = (".openpmd.h5",)
    needs_seekable = True

    def claims(self, obj: Any) -> bool:
        return is_particle_group(obj)

    def dump(self, obj: Any, f: BinaryIO) -> None:
        import h5py

        if not is_particle_group(obj):
            raise TypeError(f"openpmd serializer needs an openpmd-beamphysics ParticleGroup, got {type(obj).__name__}")
        with h5py.File(f, "w") as h5:
            obj.write(h5)

    def load(self, f: BinaryIO) -> Any:
        import h5py

        try:
            from beamphysics import ParticleGroup
        except ImportError:  # openpmd-beamphysics before 0.16
            from pmd_beamphysics import ParticleGroup
        with h5py.File(f, "r") as h5:
            return ParticleGroup(h5)


class PNGSerializer(Serializer):
    """PNG images from a Pillow image, an array or a matplotlib figure; loads a Pillow image.

    Integer and boolean arrays are written as pixels (grey, RGB or RGBA by shape);
    2-D float arrays are colour-mapped with matplotlib's default colormap over their finite
    values, NaN and infinities drawn transparent.
    """

    name = "png"
    extensions = (".png",)
    needs_seekable = True

    def dump(self, obj: Any, f: BinaryIO) -> None:
        if hasattr(obj, "savefig"):  # a matplotlib Figure
            obj.savefig(f, format="png")
            return
        if hasattr(obj, "save") and hasattr(obj, "mode"):  # a Pillow Image
            obj.save(f, format="PNG")
            return
        import numpy as np

        array = np.asarray(obj)
        if array.ndim not in (2, 3) or array.dtype == object:
            raise TypeError(f"png serializer needs an image, a figure or a 2-D/3-D array, got {type(obj).__name__}")
        if np.issubdtype(array.dtype, np.floating):
            import matplotlib.image

            finite = np.isfinite(array)
            if array.ndim != 2 and not finite.all():
                raise ValueError("an RGB(A) float image holds NaN or infinite values; a 2-D float array may (drawn transparent)")
            if not finite.any():
                raise ValueError("every value of the float array is NaN or infinite: nothing to draw")
            # colours span the finite values; NaN and infinities are drawn transparent
            shown = np.ma.masked_invalid(array)
            matplotlib.image.imsave(f, shown, format="png", vmin=shown.min(), vmax=shown.max())
            return
        from PIL import Image

        if array.dtype == bool:
            array = array.astype(np.uint8) * 255
        Image.fromarray(array).save(f, format="PNG")

    def load(self, f: BinaryIO) -> Any:
        from PIL import Image

        image = Image.open(f)
        image.load()
        return image


class PickleSerializer(Serializer):
    """Python pickle. Only used when asked for by name: loading a pickle can run code."""

    name = "pickle"
    extensions = ()

    def dump(self, obj: Any, f: BinaryIO) -> None:
        import pickle

        pickle.dump(obj, f, protocol=pickle.HIGHEST_PROTOCOL)

    def load(self, f: BinaryIO) -> Any:
        import pickle

        return pickle.load(f)


BUILTIN_SERIALIZERS: tuple[type[Serializer], ...] = (
    BytesSerializer,
    TextSerializer,
    JSONSerializer,
    YAMLSerializer,
    NpySerializer,
    NpzSerializer,
    HDF5Serializer,
    OpenPMDSerializer,
    PNGSerializer,
    PickleSerializer,
)


class SerializerRegistry:
    """Serializers by name and by extension; entry points are read on first lookup."""

    def __init__(self) -> None:
        self._by_name: dict[str, Serializer] = {}
        self._by_extension: dict[str, str] = {}
        self._loaded_entry_points = False
        for cls in BUILTIN_SERIALIZERS:
            self.register(cls())

    def register(self, serializer: Serializer | type[Serializer]) -> Serializer:
        if isinstance(serializer, type):
            serializer = serializer()
        if not serializer.name:
            raise ValueError(f"serializer {serializer!r} has no name")
        self._by_name[serializer.name] = serializer
        for ext in serializer.extensions:
            self._by_extension[ext.lower()] = serializer.name
        return serializer

    def load_entry_points(self, *, force: bool = False) -> None:
        if self._loaded_entry_points and not force:
            return
        self._loaded_entry_points = True
        for ep in entry_points(group=ENTRY_POINT_GROUP):
            self.register(ep.load())

    def names(self) -> list[str]:
        self.load_entry_points()
        return sorted(self._by_name)

    def extensions(self) -> list[str]:
        self.load_entry_points()
        return sorted(self._by_extension)

    def get(self, name: str | None = None, path: str | None = None) -> Serializer:
        """The serializer called ``name``, else the one for ``path``'s extension."""
        self.load_entry_points()
        if name is not None:
            if name in self._by_name:
                return self._by_name[name]
            raise UnknownSerializer(f"no serializer named {name!r}", self.names(), self.extensions())
        return self._by_path(path)

    def for_object(self, obj: Any, name: str | None = None, path: str | None = None) -> Serializer:
        """The serializer to write ``obj`` with: called ``name``, else one that claims its type, else by ``path``'s extension."""
        if name is None:
            self.load_entry_points()
            for serializer in self._by_name.values():
                if serializer.claims(obj):
                    return serializer
        return self.get(name, path)

    def _by_path(self, path: str | None) -> Serializer:
        filename = (path or "").rsplit("/", 1)[-1].lower()
        # longest suffix first, so ".tar.gz" could win over ".gz"
        for ext in sorted(self._by_extension, key=len, reverse=True):
            if filename.endswith(ext) and len(filename) > len(ext):
                return self._by_name[self._by_extension[ext]]
        raise UnknownSerializer(
            f"no serializer for the extension of {path!r}; pass serializer=NAME",
            self.names(),
            self.extensions(),
        )


registry = SerializerRegistry()


def get_serializer(name: str | None = None, path: str | None = None) -> Serializer:
    """The serializer called ``name``, else the one registered for ``path``'s extension."""
    return registry.get(name, path)


def serializer_for(obj: Any, name: str | None = None, path: str | None = None) -> Serializer:
    """The serializer to write ``obj`` with: called ``name``, else one that claims its type
    (a ParticleGroup: ``openpmd``), else the one for ``path``'s extension."""
    return registry.for_object(obj, name, path)


def register_serializer(serializer: Serializer | type[Serializer]) -> Serializer:
    """Register a serializer in this process (entry points do it for every process)."""
    return registry.register(serializer)
