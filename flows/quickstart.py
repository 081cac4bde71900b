"""The quickstart: a real Prefect flow that writes and reads model files through file blocks.

Runs on embedded defaults: Prefect's ephemeral API (no server to start) and local files
under ./lume-data. Prints what it wrote and read back.
"""

from __future__ import annotations

import os
from pathlib import Path

# Quiet, local defaults; a user's own Prefect settings still win.
os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")

import numpy as np  # noqa: E402
from prefect import flow, get_run_logger  # noqa: E402

from lume_prefect.files import FileRef, LocalFiles, load_file, read_ref, save_file  # noqa: E402

DATA = Path(os.environ.get("LUME_QUICKSTART_DATA", "lume-data")).resolve()


@flow(name="lume-quickstart", log_prints=False)
def quickstart(block_name: str = "quickstart", n_particles: int = 10_000) -> list[FileRef]:
    """Simulate a toy beam, store inputs and outputs in four formats, read them back."""
    logger = get_run_logger()
    rng = np.random.default_rng(42)
    inputs = {"n_particles": n_particles, "sigma_x_m": 1e-3, "energy_ev": 1.0e9}
    x = rng.normal(0.0, inputs["sigma_x_m"], n_particles)
    px = rng.normal(0.0, 1e-4, n_particles)

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, axes = plt.subplots(figsize=(4, 3))
    axes.hist2d(x, px, bins=60)
    axes.set_xlabel("x (m)")
    axes.set_ylabel("px (rad)")

    refs = [
        save_file(block_name, "run-1/inputs.yaml", inputs),
        save_file(block_name, "run-1/particles.h5", {"x": x, "px": px, "@attrs": {"units_x": "m"}}),
        save_file(block_name, "run-1/summary.json", {"rms_x_m": float(x.std()), "rms_px": float(px.std())}),
        save_file(block_name, "run-1/phase-space.png", figure),
    ]
    plt.close(figure)
    summary = load_file(path=refs[2])
    particles = load_file(block_name, "run-1/particles.h5")
    assert np.array_equal(particles["x"], x), "HDF5 round trip changed the data"
    logger.info("rms_x = %.3e m from %s", summary["rms_x_m"], refs[2].url)
    return refs


def main() -> None:
    files = LocalFiles(basepath=str(DATA))
    files.save("quickstart", overwrite=True)
    refs = quickstart()
    print(f"\nWrote through block lume-local-files/quickstart (root {DATA}):")
    for ref in refs:
        print(f"  {ref.path:<24} {ref.serializer:<5} {ref.size:>8} bytes  sha256 {ref.sha256[:12]}…")
    print("Read back:", read_ref(refs[2]))
    print("Files now in the block:", ", ".join(LocalFiles.load("quickstart").ls("run-1")))


if __name__ == "__main__":
    main()
