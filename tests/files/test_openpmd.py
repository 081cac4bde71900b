"""The openpmd serializer: openpmd-beamphysics' ParticleGroup written and read by the library
itself, on every file block; chosen by type when writing, by name or ``.openpmd.h5``, and by the
file's openPMD attributes when reading an ``.h5`` file."""

from __future__ import annotations

import numpy as np
import pytest

from lume_prefect.files.serializers import get_serializer

beamphysics = pytest.importorskip("beamphysics")


def particles(count: int = 200, seed: int = 1):
    rng = np.random.default_rng(seed)
    return beamphysics.ParticleGroup(data={
        "x": rng.normal(0, 1e-3, count), "px": rng.normal(0, 1e3, count), "y": rng.normal(0, 2e-3, count),
        "py": rng.normal(0, 1e3, count), "z": rng.normal(0, 1e-4, count), "pz": rng.normal(1e8, 1e5, count),
        "t": np.zeros(count), "status": np.ones(count, dtype=int), "weight": np.full(count, 1e-15), "species": "electron",
    })


def test_a_particle_group_written_by_type_reads_back_as_one(files):
    beam = particles()
    ref = files.write("beams/out.h5", beam)  # an .h5 extension, yet the ParticleGroup picks openpmd

    assert ref.serializer == "openpmd" and ref.size > 0
    for back in (files.read("beams/out.h5"), files.read_ref(ref)):
        assert isinstance(back, beamphysics.ParticleGroup)
        assert back == beam
        assert back["norm_emit_x"] == pytest.approx(beam["norm_emit_x"])
        assert back.species == "electron" and len(back) == 200


def test_the_hdf5_serializer_by_name_still_reads_the_file_as_nested_dicts(files):
    files.write("beam.h5", particles())
    tree = files.read("beam.h5", serializer="hdf5")
    assert tree["@attrs"]["dataType"] == "openPMD"
    assert "particles" in tree


def test_an_openpmd_file_written_elsewhere_is_read_as_particles(files, tmp_path):
    beam = particles(count=50, seed=2)
    beam.write(str(tmp_path / "from-impact.h5"))  # the library's own writer, to a local file
    ref = files.upload(tmp_path / "from-impact.h5", "in/from-impact.h5")
    assert files.read("in/from-impact.h5") == beam
    # its FileRef (what `lume-prefect files put` prints) names openpmd, so read_ref gives particles too
    assert ref.serializer == "openpmd" and files.read_ref(ref) == beam


def test_an_uploaded_plain_or_broken_hdf5_file_keeps_the_hdf5_serializer(files, tmp_path):
    files.write("plain.h5", {"x": np.arange(3)})
    files.download("plain.h5", tmp_path / "plain.h5")
    (tmp_path / "broken.h5").write_bytes(b"not hdf5 at all")
    assert files.upload(tmp_path / "plain.h5", "in/plain.h5").serializer == "hdf5"
    assert files.upload(tmp_path / "broken.h5", "in/broken.h5").serializer == "hdf5"  # the upload itself never fails on it
    assert files.upload(tmp_path / "plain.h5", "in/named.bin", serializer="hdf5").serializer == "hdf5"


def test_plain_hdf5_stays_a_dict_and_the_extension_picks_openpmd(files):
    files.write("plain.h5", {"x": np.arange(3)})
    assert isinstance(files.read("plain.h5"), dict)
    assert get_serializer(None, "b.openpmd.h5").name == "openpmd"
    files.write("named.openpmd.h5", particles(count=10))
    assert isinstance(files.read("named.openpmd.h5"), beamphysics.ParticleGroup)


def test_the_openpmd_serializer_refuses_anything_but_particles_and_writes_nothing(files):
    with pytest.raises(TypeError, match="openpmd serializer needs an openpmd-beamphysics ParticleGroup, got dict"):
        files.write("bad.h5", {"x": [1.0]}, serializer="openpmd")
    assert not files.exists("bad.h5")
