"""``lume-prefect scan``: many points through one model version, stored, cached, in batches.

The environment is the saved ``LumeServices`` block named by ``--services`` (or
``$LUME_SERVICES``); without either, the embedded ``local`` environment.
"""

from __future__ import annotations

import json as jsonlib
from typing import Annotated, Any, Literal, Optional

from cyclopts import Parameter, validators

from lume_prefect.cli.options import Json, Services
from lume_prefect.cli.output import console, fail, json_object, print_json, print_table

SHOWN_FAILURES = 20


def parse_axis(text: str) -> tuple[str, list[Any]]:
    """``NAME=V1,V2,...`` (each value JSON if it parses) or ``NAME=START:STOP:NUM`` (evenly spaced, both ends)."""
    name, sep, values = text.partition("=")
    if not sep or not name or not values:
        raise ValueError(f"--grid takes NAME=V1,V2,... or NAME=START:STOP:NUM, got {text!r}")
    if values.count(":") == 2 and "," not in values:
        start, stop, num = values.split(":")
        try:
            low, high, count = float(start), float(stop), int(num)
        except ValueError:
            raise ValueError(f"--grid {name}: START:STOP:NUM needs two numbers and a count, got {values!r}") from None
        if count < 1:
            raise ValueError(f"--grid {name}: NUM must be at least 1, got {count}")
        from lume_prefect.scans.points import EvenlySpaced

        return name, EvenlySpaced(low, high, count)  # listed only once the grid's size is checked
    parsed = []
    for item in values.split(","):
        try:
            parsed.append(jsonlib.loads(item))
        except ValueError:
            parsed.append(item)  # a str
    return name, parsed


def grid_of(axes: list[str]) -> dict[str, Any]:
    """The grid of repeated ``--grid`` options; an input given twice is refused, not overwritten."""
    grid: dict[str, Any] = {}
    for text in axes:
        name, values = parse_axis(text)
        if name in grid:
            raise ValueError(f"--grid {name} is given twice; give each input's values once, e.g. --grid {name}=1,2")
        grid[name] = values
    return grid


def dask_runner(cluster_class: Optional[str], cluster_kwargs: Optional[str], adapt_kwargs: Optional[str]) -> Any:
    """prefect-dask's ``DaskTaskRunner`` of ``--cluster-class``, ``--cluster-kwargs`` and ``--adapt-kwargs``."""
    from prefect_dask import DaskTaskRunner

    kwargs = json_object(cluster_kwargs, "--cluster-kwargs", CLUSTER_KWARGS_EXAMPLE) if cluster_kwargs else None
    adapt = json_object(adapt_kwargs, "--adapt-kwargs", ADAPT_KWARGS_EXAMPLE) if adapt_kwargs else None
    if cluster_class is not None and "." not in cluster_class.strip("."):
        fail(f"--cluster-class takes a class's full name, e.g. dask_jobqueue.SLURMCluster or distributed.LocalCluster, got {cluster_class!r}")
    try:
        runner = DaskTaskRunner(cluster_class=cluster_class, cluster_kwargs=kwargs, adapt_kwargs=adapt)
    except (ImportError, AttributeError) as exc:
        fail(f"--cluster-class {cluster_class!r} cannot be imported: {exc}")
    except ValueError as exc:  # e.g. asynchronous, which prefect-dask sets itself
        fail(exc)
    return runner


CLUSTER_KWARGS_EXAMPLE = """'{"cores": 1, "memory": "2GB", "queue": "debug"}'"""
ADAPT_KWARGS_EXAMPLE = """'{"minimum": 0, "maximum": 10}'"""


def scan(
    model: str,
    *,
    grid: Annotated[Optional[list[str]], Parameter(name=["--grid", "-g"], help="NAME=V1,V2,... or NAME=START:STOP:NUM; repeat for a Cartesian product.", negative=())] = None,
    points: Annotated[Optional[str], Parameter(help="A CSV or Parquet file: one point per row, one input per column.")] = None,
    version: Annotated[Optional[str], Parameter(help="Model version (default: the live one).")] = None,
    executor: Annotated[Literal["in-process", "processes", "dask", "slurm", "deployment"], Parameter(help="Where the batches run.")] = "in-process",
    batch_size: Annotated[Optional[int], Parameter(help="Points per batch (default: a handful of batches per worker).", validator=validators.Number(gte=1))] = None,
    workers: Annotated[Optional[int], Parameter(help="Processes, Dask workers or concurrent deployment runs.", validator=validators.Number(gte=1))] = None,
    address: Annotated[Optional[str], Parameter(help="Address of an existing Dask scheduler (executor dask).")] = None,
    cluster_class: Annotated[Optional[str], Parameter(help="Executor dask: the Dask cluster class that prefect-dask's DaskTaskRunner starts for the scan and closes after it, e.g. dask_jobqueue.SLURMCluster (default: distributed.LocalCluster; without any of these three options, one of --workers single-threaded processes).")] = None,
    cluster_kwargs: Annotated[Optional[str], Parameter(help=f"Executor dask: the cluster class's keyword arguments as a JSON object, e.g. {CLUSTER_KWARGS_EXAMPLE}.")] = None,
    adapt_kwargs: Annotated[Optional[str], Parameter(help=f"Executor dask: scale the cluster to the batches with cluster.adapt(...) of these keyword arguments, a JSON object, e.g. {ADAPT_KWARGS_EXAMPLE}.")] = None,
    slurm: Annotated[Optional[str], Parameter(help="Saved SlurmCluster block (executor slurm; default: the services' cluster).")] = None,
    refresh: Annotated[bool, Parameter(negative="", help="Recompute points already stored.")] = False,
    output: Annotated[Optional[str], Parameter(help="Write every point's inputs and outputs to this .csv or .parquet file.")] = None,
    max_points: Annotated[Optional[int], Parameter(help="Run a scan of more points than the limit of a million (every point is held in memory).")] = None,
    services: Services = None,
    json: Json = False,
) -> None:
    """Scan MODEL over a grid (--grid, repeatable) or the points of a file (--points); print the summary.

    Parameters
    ----------
    model
        Model name in the registry.
    """
    from lume_prefect.cli.runs import _errors
    from lume_prefect.scans import run_scan
    from lume_prefect.scans.errors import ScanError

    if bool(grid) == bool(points):
        fail("give either --grid (one or more) or --points FILE")
    if output and not output.lower().endswith((".csv", ".parquet")):
        fail(f"--output must end in .csv or .parquet, got {output!r}")
    if output:
        check_output(output)
    runner = None
    if cluster_class or cluster_kwargs or adapt_kwargs:
        if executor != "dask":
            fail(f"--cluster-class, --cluster-kwargs and --adapt-kwargs are for --executor dask, got --executor {executor}")
        if address:
            fail("give either --address (a running Dask scheduler) or --cluster-class/--cluster-kwargs/--adapt-kwargs (a cluster to start), not both")
        runner = dask_runner(cluster_class, cluster_kwargs, adapt_kwargs)
    if executor == "dask":
        quiet_dask()
    try:
        given: Any = grid_of(grid) if grid else points
        result = run_scan(model, given, version, services=services, executor=executor, batch_size=batch_size, workers=workers,
                          address=address, dask=runner, slurm=slurm, refresh=refresh, progress=None if not json else False,
                          max_points=max_points)
    except (ScanError, *_errors()) as exc:
        fail(exc)
    if output:
        frame = result.frame.drop(columns=["tags", "files"])
        frame.to_csv(output, index=False) if output.lower().endswith(".csv") else frame.to_parquet(output)
    if json:
        print_json({**result.summary(), "tag": result.tag, "flow_run_id": str(result.flow_run_id) if result.flow_run_id else None,
                    "failures": [{"index": f.index, "inputs": f.inputs, "error": f"{f.error_type}: {f.message}"} for f in result.failures],
                    "output": output})
        return
    print_table(f"scan {result.scan_id} of {result.model} {result.version}", ["points", "cached", "computed", "failed", "batches", "seconds", "executor"],
                [(result.points, result.cached, result.computed, result.failed, result.batches, f"{result.seconds:.2f}", result.executor)])
    if result.failures:
        print_table(f"failed points (first {min(result.failed, SHOWN_FAILURES)} of {result.failed})", ["index", "inputs", "error"],
                    [(f.index, jsonlib.dumps(f.inputs), f"{f.error_type}: {f.message}") for f in result.failures[:SHOWN_FAILURES]])
    console.print(f"find them with: lume-prefect results list --tag {result.tag}" + (f"; all points written to {output}" if output else ""), highlight=False)


def check_output(output: str) -> None:
    """``--output`` must be writable before the scan runs: its results would be stored and the table lost."""
    import os

    target = os.path.abspath(output)
    directory = os.path.dirname(target)
    if not os.path.isdir(directory):
        fail(f"--output {output}: the directory {directory} does not exist; nothing was run")
    if os.path.isdir(target):
        fail(f"--output {output}: is a directory; nothing was run")
    if not os.access(directory, os.W_OK) or os.path.exists(target) and not os.access(target, os.W_OK):
        fail(f"--output {output}: not writable; nothing was run")


def quiet_dask() -> None:
    """Dask's scheduler and nannies log every start, connection and close at INFO, dozens of
    lines around the scan's table: warnings and errors only, unless ``DASK_LOGGING__DISTRIBUTED``
    (Dask's own setting) asks for more."""
    import logging
    import os

    if "DASK_LOGGING__DISTRIBUTED" not in os.environ:
        logging.getLogger("distributed").setLevel(logging.WARNING)
