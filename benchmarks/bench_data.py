"""Benchmark of data ingest: prepare (read + check + resample + band-pass + cache) and reuse.

On the built-in synthetic set (generated once into a temporary cache, not timed): records/s of
a first ``prepare`` with 1 and 2 worker processes (wall clock, and CPU time per record,
which other load on the machine does not change), the time of a cached re-run (listing,
fingerprint, memory-mapped load) relative to the first, and the wall time of
``lrh-tflm --help`` (median of 10 subprocess runs).  Targets: ≥ 300 records/s with 2
workers, re-run < 5 % of the first, ``--help`` < 1 s.  Writes ``benchmarks/results/data.json``.

Run: ``python benchmarks/bench_data.py [--records 1200] [--profile default]``.
"""
from __future__ import annotations

import argparse
import os
import platform
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import lrh_tflm  # noqa: F401  (environment first, as everywhere in the project)
from lrh_tflm.config import get_profile, replace
from lrh_tflm.data.cache import prepare
from lrh_tflm.data.record import ProblemLog
from lrh_tflm.data.sources import open_source
from lrh_tflm.data.synthetic import ensure_dataset
from lrh_tflm.io import to_jsonable, write_json_atomic

RESULTS = Path(__file__).resolve().parent / "results" / "data.json"


def _cpu_s() -> float:
    """CPU seconds of this process and its finished children (the worker processes)."""
    own = resource.getrusage(resource.RUSAGE_SELF)
    kids = resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + kids.ru_utime + kids.ru_stime


def _prepare_timed(source, prof, root: Path, workers: int) -> tuple[float, int, float]:
    """Wall seconds, records, CPU seconds (the latter does not depend on other load)."""
    cpu0, start = _cpu_s(), time.perf_counter()
    data = prepare(source, prof.data, prof.labels, root, problems=ProblemLog(),
                   workers=workers, progress=False)
    return time.perf_counter() - start, len(data), _cpu_s() - cpu0


def _help_times(n: int = 10) -> list[float]:
    exe = Path(sys.executable).with_name("lrh-tflm")
    cmd = [str(exe), "--help"] if exe.exists() else [sys.executable, "-m", "lrh_tflm.cli", "--help"]
    times = []
    for _ in range(n):
        start = time.perf_counter()
        subprocess.run(cmd, check=True, capture_output=True)
        times.append(time.perf_counter() - start)
    return times


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--records", type=int, default=1200)
    parser.add_argument("--profile", default="default")
    args = parser.parse_args(argv)
    prof = get_profile(args.profile)
    synth = replace(prof.synth, records=args.records)

    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        t0 = time.perf_counter()
        ensure_dataset(tmp, synth, progress=False)
        generate_s = time.perf_counter() - t0
        source = open_source("synthetic", cache_dir=tmp, synth=synth, progress=False)

        load_before = os.getloadavg()[0]
        first1, n, cpu1 = _prepare_timed(source, prof, tmp / "p1", workers=1)
        first2, _, cpu2 = _prepare_timed(source, prof, tmp / "p2", workers=2)
        # The re-run opens the source afresh, as a new command would.
        source = open_source("synthetic", cache_dir=tmp, synth=synth, progress=False)
        rerun, n2, _ = _prepare_timed(source, prof, tmp / "p2", workers=2)
        assert n2 == n
        shutil.rmtree(tmp / "p1")

    help_t = _help_times()
    result = {
        "benchmark": "data prepare on the synthetic set; lrh-tflm --help",
        "profile": args.profile,
        "records": n,
        "record_format": f"{synth.fs} Hz, {synth.seconds:g} s, 12 leads",
        "model_fs": prof.data.fs,
        "cache_len": prof.data.cache_len,
        "generate_s": round(generate_s, 3),
        "prepare_1_worker_s": round(first1, 3),
        "prepare_1_worker_records_per_s": round(n / first1, 1),
        "prepare_2_workers_s": round(first2, 3),
        "prepare_2_workers_records_per_s": round(n / first2, 1),
        "prepare_1_worker_cpu_ms_per_record": round(1000 * cpu1 / n, 3),
        "prepare_2_workers_cpu_ms_per_record": round(1000 * cpu2 / n, 3),
        "records_per_s_if_2_idle_cores": round(2 * n / cpu2, 1),
        "cached_rerun_s": round(rerun, 4),
        "cached_rerun_fraction": round(rerun / first2, 4),
        "help_median_s": round(statistics.median(help_t), 3),
        "help_runs_s": [round(t, 3) for t in help_t],
        "targets": {"records_per_s_2_workers": 300, "rerun_fraction_below": 0.05,
                    "help_s_below": 1.0},
        "met": {"records_per_s": n / first2 >= 300, "rerun": rerun / first2 < 0.05,
                "help": statistics.median(help_t) < 1.0},
        "load_average_1min_before": round(load_before, 2),
        "load_average_1_5_15_after": [round(v, 2) for v in os.getloadavg()],
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version(),
                    "platform": platform.platform()},
    }
    write_json_atomic(RESULTS, to_jsonable(result))
    return result


if __name__ == "__main__":
    import json

    print(json.dumps(to_jsonable(main()), indent=2))
