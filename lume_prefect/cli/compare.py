"""``lume-prefect compare``: two registered models on the same points (a grid or a file), output by output."""

from __future__ import annotations

import math
from typing import Annotated, Any, Literal, Optional

from cyclopts import Parameter

from lume_prefect.cli.options import Json, Services
from lume_prefect.cli.output import console, fail, print_json, print_table


def compare(
    a: str,
    b: str,
    *,
    grid: Annotated[Optional[list[str]], Parameter(name=["--grid", "-g"], help="NAME=V1,V2,... or NAME=START:STOP:NUM; repeat for a Cartesian product.", negative=())] = None,
    points: Annotated[Optional[str], Parameter(help="A CSV or Parquet file: one point per row, one input per column.")] = None,
    output_names: Annotated[Optional[list[str]], Parameter(name=["--outputs"], help="Compare only these outputs (repeat, or comma-separated; default: every output of both).", negative=())] = None,
    executor: Annotated[Literal["in-process", "processes", "dask", "slurm", "deployment"], Parameter(help="Where the batches of both scans run.")] = "in-process",
    batch_size: Annotated[Optional[int], Parameter(help="Points per batch (default: a handful of batches per worker).")] = None,
    workers: Annotated[Optional[int], Parameter(help="Processes, Dask workers or concurrent deployment runs.")] = None,
    address: Annotated[Optional[str], Parameter(help="Address of an existing Dask scheduler (executor dask).")] = None,
    slurm: Annotated[Optional[str], Parameter(help="Saved SlurmCluster block (executor slurm; default: the services' cluster).")] = None,
    refresh: Annotated[bool, Parameter(negative="", help="Recompute points already stored.")] = False,
    output: Annotated[Optional[str], Parameter(help="Write the differences (one row per point and output) to this .csv or .parquet file.")] = None,
    services: Services = None,
    json: Json = False,
) -> None:
    """Compare model A with model B (the reference) on a grid (--grid, repeatable) or the points of a file (--points).

    Parameters
    ----------
    a
        Model name (its live version) or NAME@VERSION.
    b
        The reference model: name or NAME@VERSION.
    """
    from lume_prefect.cli.runs import _errors
    from lume_prefect.cli.scan import parse_axis
    from lume_prefect.scans import compare_models
    from lume_prefect.scans.compare import summary_records
    from lume_prefect.scans.errors import ScanError

    if bool(grid) == bool(points):
        fail("give either --grid (one or more) or --points FILE")
    if output and not output.lower().endswith((".csv", ".parquet")):
        fail(f"--output must end in .csv or .parquet, got {output!r}")
    wanted = [name.strip() for item in output_names for name in item.split(",") if name.strip()] if output_names else None
    try:
        given: Any = dict(parse_axis(axis) for axis in grid) if grid else points
        result = compare_models(a, b, given, outputs=wanted, services=services, executor=executor, batch_size=batch_size, workers=workers,
                                address=address, slurm=slurm, refresh=refresh, progress=None if not json else False)
    except (ScanError, *_errors()) as exc:
        fail(exc)
    if output:
        frame = result.frame.astype({"a": str, "b": str}) if output.lower().endswith(".parquet") else result.frame
        frame.to_csv(output, index=False) if output.lower().endswith(".csv") else frame.to_parquet(output)
    summary = result.summary.reset_index()
    if json:
        print_json({"a": result.a, "b": result.b, "compare": result.compare_id, "tag": result.tag,
                    "flow_run_id": str(result.flow_run_id) if result.flow_run_id else None, "points": result.scan_a.points,
                    "outputs": summary_records(result),
                    "skipped": result.skipped, "scans": {"a": result.scan_a.summary(), "b": result.scan_b.summary()}, "output": output})
        return
    print_table(f"{result.a} (A) vs {result.b} (B): {result.scan_a.points} points", ["output", "units", "points", "equal", "max |A-B|", "rms A-B", "max |A-B|/|B|"],
                [(row["output"], row["units"] or "", f"{row['compared']}/{row['points']}", row["equal"], _number(row["max_abs_difference"]),
                  _number(row["rms_difference"]), _number(row["max_abs_relative"])) for row in summary.to_dict(orient="records")])
    for name, reason in result.skipped.items():
        console.print(f"not compared: {name} ({reason})", highlight=False, soft_wrap=True)
    for label, scan in (("A", result.scan_a), ("B", result.scan_b)):
        console.print(f"{label}: {scan.cached} cached, {scan.computed} computed, {scan.failed} failed (lume-prefect results list --tag {scan.tag})",
                      highlight=False, soft_wrap=True)
    console.print(f"plot: artifact compare-{result.compare_id} of flow run {result.flow_run_id}"
                  + (f"; differences written to {output}" if output else ""), highlight=False, soft_wrap=True)


def _number(value: Any) -> str:
    return "" if value is None or isinstance(value, float) and math.isnan(value) else f"{value:.4g}"

