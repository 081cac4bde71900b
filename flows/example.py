"""The end-to-end example: a model's life on embedded defaults, with no server to start.

Prefect's ephemeral API, SQLite registry and results store, local files under ./lume-data.
It registers two versions of the toy-beam model, promotes the newer one, reverts to the
older one, scans the live version with ``run_scan`` (one flow run, the points in a batch,
every result stored), runs the scan again (every point a cache hit), stores the particles of one run as HDF5, plots the scan (a PNG through the file
block and an artifact on the flow run page), runs the other version by number, reproduces
its stored result, and prints what it did.

Run it twice: the second time every scan point is a cache hit and nothing is registered.
``LUME_EXAMPLE_FRESH=1`` starts from an empty data directory; ``LUME_PREFECT_HOME`` moves it.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

# Quiet, local defaults; a user's own settings still win.
os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
os.environ.setdefault("PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS", "120")  # a busy 2-core laptop
DATA = Path(os.environ.setdefault("LUME_PREFECT_HOME", str(Path("lume-data").resolve())))
MODEL = Path(__file__).resolve().parent / "toy_beam"

from prefect import flow, get_run_logger  # noqa: E402

from lume_prefect.models.deploy import register_model_version  # noqa: E402
from lume_prefect.models.reproduce import reproduce  # noqa: E402
from lume_prefect.models.run import run_model  # noqa: E402
from lume_prefect.results.tasks import plot_results  # noqa: E402
from lume_prefect.scans import run_scan  # noqa: E402
from lume_prefect.services import LumeServices, local_services  # noqa: E402

SIGMAS = (0.5e-3, 1e-3, 2e-3, 4e-3)
SERVICES = "example"  # the LumeServices block this example saves and its flows load


def release(version: str, seed: int) -> Path:
    """A source tree of toy-beam at ``version``: what a model author's release would be."""
    target = DATA / "sources" / f"toy-beam-{version}"
    target.mkdir(parents=True, exist_ok=True)
    code = (MODEL / "model.py").read_text()
    code = code.replace('version="1.0.0"', f'version="{version}"').replace("default_rng(7)", f"default_rng({seed})")
    if not (target / "model.py").exists() or (target / "model.py").read_text() != code:
        (target / "model.py").write_text(code)
    return target


@flow(name="lume-example")
def beam_scan(drift_m: float = 2.0) -> list[dict]:
    """Scan the live toy-beam version over the initial beam size; store, cache, plot."""
    logger = get_run_logger()
    services = LumeServices.load(SERVICES)
    scan = run_scan("toy-beam", {"sigma_x": list(SIGMAS), "drift_m": drift_m}, services=services)
    how = {"computed": scan.executor, "cached": "cache hit", "failed": "failed"}
    rows = [{"sigma_x": row["inputs.sigma_x"], "rms_x": row["outputs.rms_x"], "version": scan.version, "how": how[row["status"]]}
            for row in scan.frame.to_dict(orient="records")]
    particles = run_model("toy-beam", {"sigma_x": 1e-3, "drift_m": drift_m, "save_particles": True}, services=services)
    ref = particles.result.files[0]
    logger.info("particles of the 1 mm run stored at %s (%d bytes, sha256 %s…)", ref.url, ref.size, ref.sha256[:12])
    plot = plot_results("rms_x", x="sigma_x", store=services.results, query={"model": "toy-beam"}, files=services.files,
                        path="plots/rms_x-vs-sigma_x.png", title="toy-beam: rms size after the drift")
    logger.info("plot written to %s and published as artifact results-rms-x-scatter", plot.url)
    return rows


def main() -> None:
    local_services().save(SERVICES, overwrite=True)  # SQLite registry and results, local files, under DATA
    services = LumeServices.load(SERVICES)
    registry = services.registry
    for version, seed in (("1.0.0", 7), ("1.1.0", 8)):
        source = release(version, seed)
        registered = register_model_version("model.py:toy_beam", str(source), services=services)
        print(f"toy-beam {version}: {'registered' if registered else 'already registered from the same source'}")
    registry.promote("toy-beam", "1.0.0")
    registry.promote("toy-beam", "1.1.0")
    change = registry.revert("toy-beam")  # 1.1.0 misbehaves: back to the version live before it
    print(f"live alias: {change.from_version or '-'} -> {change.to_version} (revert)")

    rows = beam_scan()
    again = beam_scan()
    prior = run_model("toy-beam", {"sigma_x": 1e-3}, version="1.1.0", services=services)  # any version, by number
    check = reproduce(prior.result.key, services=services)

    print(f"\nScan of toy-beam {rows[0]['version']} (live), drift 2 m:")
    print(f"  {'sigma_x [m]':>12} {'rms_x [m]':>12}  first run      second run")
    for first, second in zip(rows, again):
        print(f"  {first['sigma_x']:>12.2e} {first['rms_x']:>12.4e}  {first['how']:<14} {second['how']}")
    print(f"toy-beam 1.1.0 by number: rms_x = {prior.outputs['rms_x']:.4e} m ({'cache hit' if prior.cached else prior.mode})")
    print(f"reproduce {check.key[:12]}: re-ran 1.1.0, outputs {'match' if check.matches else f'differ: {check.differences}'}")
    stored = services.results.count(model="toy-beam")
    print(f"\nResults store (SQLite under {DATA}): {stored} results of toy-beam")
    print(f"Files under {services.files.basepath}: {', '.join(services.files.ls(recursive=True))}")
    print("Live-alias history:")
    for change in registry.history("toy-beam", "live"):
        print(f"  {change.changed_at:%Y-%m-%d %H:%M:%S}  {change.from_version or '-':>6} -> {change.to_version or '-':<6} by {change.changed_by}")


if __name__ == "__main__":
    if os.environ.get("LUME_EXAMPLE_FRESH") == "1":
        shutil.rmtree(DATA, ignore_errors=True)
    main()
