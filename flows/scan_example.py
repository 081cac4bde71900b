"""A scan of a few thousand points in seconds: a grid through the toy-beam model, stored, re-run
from the cache, and plotted. Embedded defaults: Prefect's ephemeral API, SQLite, ./lume-data.

    .venv/bin/python flows/scan_example.py

It registers toy-beam (``flows/toy_beam``) unless a version is live, scans a 60 x 50 grid of initial beam size
and drift length (3,000 points) with ``run_scan`` -- every point checked against the model's
spec first, then computed in batches (one Prefect task run each) and stored with one bulk
insert per batch -- runs the same scan again (every point a cache hit, nothing computed),
plots the final beam size over the grid, and prints what it did and how long it took.
"""

from __future__ import annotations

import os
import time
from pathlib import Path

os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
os.environ.setdefault("PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS", "120")
DATA = Path(os.environ.setdefault("LUME_PREFECT_HOME", str(Path("lume-data").resolve())))
MODEL = Path(__file__).resolve().parent / "toy_beam"

from lume_prefect import run_scan  # noqa: E402
from lume_prefect.models.deploy import register_model_version  # noqa: E402
from lume_prefect.registry.errors import ModelNotFound, NoLiveVersion  # noqa: E402
from lume_prefect.services import LumeServices, local_services  # noqa: E402

SERVICES = "scan-example"
GRID = {
    "sigma_x": [1e-4 * (1 + i) for i in range(60)],  # 0.1 mm .. 6 mm
    "drift_m": [0.5 * (1 + j) for j in range(50)],  # 0.5 m .. 25 m
    "n_particles": 1_000,
}


def main() -> None:
    local_services().save(SERVICES, overwrite=True)
    services = LumeServices.load(SERVICES)
    try:
        services.registry.live_version("toy-beam")  # e.g. left live by flows/example.py
    except (ModelNotFound, NoLiveVersion):
        register_model_version("model.py:toy_beam", str(MODEL), services=services)
        services.registry.promote("toy-beam", "1.0.0")

    started = time.perf_counter()
    first = run_scan("toy-beam", GRID, services=services, plot={"y": "rms_x", "x": "drift_m", "title": "toy-beam: rms size after the drift"})
    first_seconds = time.perf_counter() - started
    started = time.perf_counter()
    again = run_scan("toy-beam", GRID, services=services)
    again_seconds = time.perf_counter() - started

    frame = first.frame
    print(f"\nScan of toy-beam {first.version}: {first.points:,} points (60 sizes x 50 drifts)")
    print(f"  first run:  {first.computed:>5,} computed, {first.cached:>5,} cached, {first.failed} failed "
          f"in {first_seconds:5.2f} s ({first.batches} batches, flow run {first.flow_run_id})")
    print(f"  second run: {again.computed:>5,} computed, {again.cached:>5,} cached, {again.failed} failed in {again_seconds:5.2f} s")
    widest = frame.loc[frame["outputs.rms_x"].idxmax()]
    print(f"  largest rms_x {widest['outputs.rms_x'] * 1e3:.2f} mm at sigma_x {widest['inputs.sigma_x'] * 1e3:.1f} mm, drift {widest['inputs.drift_m']:g} m")
    print(f"  the scan's results: services.results.find(tags=['{first.tag}']) or lume-prefect results list --tag {first.tag}")
    print("  plot: the flow run's artifact scan-<id>-plot in the Prefect UI")


if __name__ == "__main__":
    main()
