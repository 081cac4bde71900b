"""Throughput and memory of the file blocks against the raw baseline, in the same run.

    .venv/bin/python benchmarks/files.py [--size-mib 1024] [--repeat 3] [--endpoint-url URL]

Local: LocalFiles.upload/download vs shutil.copyfile (which uses sendfile).
S3:    S3Files.upload/download vs raw s3fs put/get, against the same S3 server (a local
       moto_server unless --endpoint-url names another, e.g. MinIO).
Prints MiB/s, the ratio to raw (target >= 0.9x) and the Python peak memory of each of
our operations (target <= 64 MiB extra).
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import sys
import tempfile
import time
import tracemalloc
import uuid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from lume_prefect.files import LocalFiles, S3Files  # noqa: E402

MiB = 1024 * 1024


def paired(ours, raw, repeat: int) -> tuple[float, float, int]:
    """Median seconds of ``ours`` and ``raw``, run alternately, and the peak traced memory of
    one more run of ``ours``. Dirty pages are flushed (untimed) before every run, so neither
    side pays for the other's writeback."""
    ours_times, raw_times = [], []
    for _ in range(repeat):
        for fn, times in ((ours, ours_times), (raw, raw_times)):
            os.sync()
            start = time.perf_counter()
            fn()
            times.append(time.perf_counter() - start)
    os.sync()
    tracemalloc.start()  # slows Python: only in an extra, untimed run
    ours()
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    return statistics.median(ours_times), statistics.median(raw_times), peak


def report(rows: list[tuple[str, float, float, int]], size: int) -> None:
    print(f"{'operation':<22} {'ours MiB/s':>11} {'raw MiB/s':>10} {'ratio':>6} {'peak MiB':>9}")
    for label, ours, raw, peak in rows:
        print(f"{label:<22} {size / MiB / ours:>11.0f} {size / MiB / raw:>10.0f} {raw / ours:>5.2f}x {peak / MiB:>9.1f}")


def make_source(directory: Path, size: int) -> Path:
    source = directory / "source.bin"
    block = os.urandom(MiB)
    with open(source, "wb") as f:
        for _ in range(size // MiB):
            f.write(block)
    return source


def bench_local(work: Path, source: Path, size: int, repeat: int) -> list:
    files = LocalFiles(basepath=str(work / "root"))
    raw_target, back = work / "raw.bin", work / "back.bin"
    up, raw_up, up_peak = paired(lambda: files.upload(source, "big.bin"), lambda: shutil.copyfile(source, raw_target), repeat)
    down, raw_down, down_peak = paired(lambda: files.download("big.bin", back), lambda: shutil.copyfile(raw_target, back), repeat)
    return [("local write", up, raw_up, up_peak), ("local read", down, raw_down, down_peak)]


def bench_s3(work: Path, source: Path, size: int, repeat: int, endpoint_url: str) -> list:
    bucket = f"bench-{uuid.uuid4().hex[:8]}"
    files = S3Files(bucket=bucket, endpoint_url=endpoint_url, aws_access_key_id="bench", aws_secret_access_key="bench")
    fs = files.filesystem()  # the same s3fs configuration, used raw
    fs.mkdir(bucket)
    back = work / "back.bin"
    up, raw_up, up_peak = paired(lambda: files.upload(source, "big.bin"), lambda: fs.put(str(source), f"{bucket}/raw.bin"), repeat)
    down, raw_down, down_peak = paired(lambda: files.download("big.bin", back), lambda: fs.get(f"{bucket}/raw.bin", str(back)), repeat)
    return [("s3 write", up, raw_up, up_peak), ("s3 read", down, raw_down, down_peak)]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--size-mib", type=int, default=1024, help="file size in MiB (default 1024)")
    parser.add_argument("--repeat", type=int, default=3, help="timed runs per operation (median)")
    parser.add_argument("--endpoint-url", default=None, help="an S3 server to use instead of a local moto_server")
    parser.add_argument("--skip-s3", action="store_true")
    args = parser.parse_args()
    size = args.size_mib * MiB
    with tempfile.TemporaryDirectory(prefix="lume-bench-", dir=os.environ.get("TMPDIR")) as tmp:
        work = Path(tmp)
        source = make_source(work, size)
        print(f"file size {args.size_mib} MiB, median of {args.repeat} alternating runs each")
        rows = bench_local(work, source, size, args.repeat)
        if not args.skip_s3:
            server = None
            endpoint = args.endpoint_url
            if endpoint is None:
                from tests.components import S3Server

                server = S3Server()
                endpoint = server.endpoint_url
            try:
                rows += bench_s3(work, source, size, args.repeat, endpoint)
            finally:
                if server is not None:
                    server.stop()
        report(rows, size)


if __name__ == "__main__":
    main()
