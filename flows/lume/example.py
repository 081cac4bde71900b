"""LUME models as they are: a Cheetah virtual accelerator and a lume-torch surrogate of it.

On embedded defaults (Prefect's ephemeral API, SQLite, local files under ./lume-data):

1. registers the lume-cheetah beamline of ``beamline/beamline.py`` (a quadrupole and a
   screen) as model ``quad-screen`` 1.0.0, straight from its factory ``make_beamline``;
2. scans its quadrupole strength over 121 points with ``run_scan``: Cheetah tracks each batch
   in one call, and every point is stored;
3. trains a small torch MLP on the scan (``surrogate.py``), wraps it as a lume-torch
   ``TorchModel``, dumps it to YAML + ``.pt`` files and registers that as
   ``quad-screen-surrogate`` 1.0.0;
4. compares the surrogate with the physics on 120 points between the training points
   (``compare_models``: a frame and a plot on the flow run page);
5. finds the strength that focuses the beam on the screen with Xopt (Nelder-Mead) evaluating
   the beamline through ``lume_prefect.xopt.ModelEvaluator``, and asks the surrogate there.

Run it twice: the second time nothing is registered or trained again and every scan point
is a cache hit. ``LUME_EXAMPLE_FRESH=1`` starts from an empty data directory;
``LUME_PREFECT_HOME`` moves it.
"""

from __future__ import annotations

import os
import shutil
import time
from pathlib import Path

# Quiet, local defaults; a user's own settings still win.
os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
os.environ.setdefault("PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS", "300")  # a fresh Prefect database on a busy 2-core laptop
os.environ.setdefault("PREFECT_LOGGING_LEVEL", "WARNING")  # the example prints what it did
DATA = Path(os.environ.setdefault("LUME_PREFECT_HOME", str(Path("lume-data").resolve())))
HERE = Path(__file__).resolve().parent
BEAMLINE = HERE / "beamline"

import numpy as np  # noqa: E402
import torch  # noqa: E402

from lume_prefect import compare_models, register_model_version, run_scan  # noqa: E402
from lume_prefect.registry import ModelNotFound, VersionNotFound  # noqa: E402
from lume_prefect.services import LumeServices, local_services  # noqa: E402

PHYSICS, SURROGATE, VERSION = "quad-screen", "quad-screen-surrogate", "1.0.0"
K1, SIGMA_X, SIGMA_Y = "Q1:K1", "SCREEN:SIGMA_X", "SCREEN:SIGMA_Y"
K1_RANGE = (-30.0, 30.0)  # 1/m^2, the beamline's range of Q1:K1
TRAINING = np.linspace(*K1_RANGE, 121)
HELD_OUT = (TRAINING[:-1] + TRAINING[1:]) / 2  # between the training points
SERVICES = "lume-example"


def registered(services: LumeServices, model: str) -> bool:
    try:
        services.registry.get_version(model, VERSION)
    except (ModelNotFound, VersionNotFound):
        return False
    return True


def train_and_register(services: LumeServices, scan_frame) -> str:
    """Train the surrogate on the scan, dump it as lume-torch YAML + .pt files, register that."""
    from surrogate import train_surrogate

    folder = DATA / "sources" / f"{SURROGATE}-{VERSION}"
    if registered(services, SURROGATE):
        return f"surrogate: {SURROGATE} {VERSION} already registered from {folder}"
    started = time.perf_counter()
    model, loss = train_surrogate(scan_frame[f"inputs.{K1}"], {name: scan_frame[f"outputs.{name}"] for name in (SIGMA_X, SIGMA_Y)}, K1_RANGE)
    seconds = time.perf_counter() - started
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    model.dump(str(folder / "surrogate.yml"))
    register_model_version("surrogate.yml", str(folder), name=SURROGATE, version=VERSION, services=services,
                           description="MLP surrogate of quad-screen, trained on its 121-point scan")
    services.registry.promote(SURROGATE, VERSION)
    files = ", ".join(sorted(p.name for p in folder.iterdir()))
    return f"surrogate: trained on {len(scan_frame)} points in {seconds:.1f} s (rms relative error {loss ** 0.5:.1%}), dumped to {folder}: {files}"


def optimise(services: LumeServices) -> tuple[float, float, int, str]:
    """Xopt's Nelder-Mead on the beamline: the Q1:K1 that minimises SCREEN:SIGMA_X."""
    from xopt import VOCS, Xopt
    from xopt.generators.sequential.neldermead import NelderMeadGenerator

    from lume_prefect.xopt import ModelEvaluator

    vocs = VOCS(variables={K1: list(K1_RANGE)}, objectives={SIGMA_X: "MINIMIZE"})
    with ModelEvaluator(PHYSICS, services=services) as beamline:
        optimiser = Xopt(vocs=vocs, evaluator=beamline.xopt_evaluator(), generator=NelderMeadGenerator(vocs=vocs, initial_point={K1: 0.0}))
        for _ in range(40):
            optimiser.step()
    data = optimiser.data
    best = data.loc[data[SIGMA_X].astype(float).idxmin()]
    return float(best[K1]), float(best[SIGMA_X]), len(data), beamline.tag


def main() -> None:
    torch.set_num_threads(1)  # small tensors: threads cost more than they give, above all on a shared machine
    local_services().save(SERVICES, overwrite=True)  # SQLite registry and results, local files, under DATA
    services = LumeServices.load(SERVICES)

    # 1. the virtual accelerator, registered as it is: lume-prefect reads its variables
    new = register_model_version("beamline.py:make_beamline", str(BEAMLINE), name=PHYSICS, version=VERSION, services=services,
                                 description="Cheetah: quadrupole Q1, 2 m drift, screen")
    services.registry.promote(PHYSICS, VERSION)
    spec = services.registry.get_version(PHYSICS, VERSION).parameters_schema["x-lume-spec"]
    print(f"{PHYSICS} {VERSION}: {'registered' if new else 'already registered'} (lume-cheetah; batched: {spec['vectorized']})")
    for kind in ("inputs", "outputs"):
        print(f"  {kind}: " + ", ".join(f"{v['name']} [{v['units']}]" for v in spec[kind]))

    # 2. the scan, in batches: Cheetah tracks a vector of strengths in one call
    scan = run_scan(PHYSICS, {K1: TRAINING.tolist()}, services=services, progress=False)
    print(f"\nscan of {PHYSICS}: {scan.points} points, {scan.computed} computed in {scan.batches} batches, {scan.cached} cached, "
          f"{scan.failed} failed in {scan.seconds:.2f} s")

    # 3. the surrogate, trained on the scan and registered from its YAML
    print(train_and_register(services, scan.frame))

    # 4. surrogate against physics, between the training points
    comparison = compare_models(SURROGATE, PHYSICS, {K1: HELD_OUT.tolist()}, services=services, progress=False)
    print(f"\n{comparison.a} against {comparison.b} on {comparison.scan_a.points} held-out points "
          f"(flow run {comparison.flow_run_id}, plot: artifact compare-{comparison.compare_id}):")
    print(f"  {'output':<15} {'max |A-B| [m]':>14} {'rms A-B [m]':>12} {'max |A-B|/|B|':>14}")
    for output, row in comparison.summary.iterrows():
        print(f"  {output:<15} {row['max_abs_difference']:>14.2e} {row['rms_difference']:>12.2e} {row['max_abs_relative']:>14.1%}")

    # 5. Xopt focuses the beam on the screen, every evaluation stored
    k1, sigma_x, evaluations, tag = optimise(services)
    predicted = run_scan(SURROGATE, [{K1: k1}], services=services, progress=False).frame[f"outputs.{SIGMA_X}"].iloc[0]
    print(f"\nXopt (Nelder-Mead, {evaluations} evaluations of {PHYSICS}, tag {tag}):")
    print(f"  {K1} = {k1:.3f} 1/m^2 focuses the beam: {SIGMA_X} = {sigma_x * 1e3:.3f} mm (surrogate there: {predicted * 1e3:.3f} mm)")

    stored = {model: services.results.count(model=model) for model in (PHYSICS, SURROGATE)}
    print(f"\nResults store (SQLite under {DATA}): " + ", ".join(f"{n} results of {m}" for m, n in stored.items()))


if __name__ == "__main__":
    if os.environ.get("LUME_EXAMPLE_FRESH") == "1":
        shutil.rmtree(DATA, ignore_errors=True)
    main()
