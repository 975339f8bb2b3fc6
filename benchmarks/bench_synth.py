"""Benchmark of the synthetic dataset generator: records per second, 1 worker and 2 workers.

Generation and writing (``.hea`` + ``.mat``) of the default profile's record format, median of a
few runs into fresh temporary folders.  Writes ``benchmarks/results/synth.json`` and prints it.

Run: ``python benchmarks/bench_synth.py [--records 1200] [--repeats 3]``.
"""
from __future__ import annotations

import argparse
import os
import platform
import resource
import statistics
import tempfile
import time
from pathlib import Path

import lrh_tflm  # noqa: F401  (environment first, as everywhere in the project)
from lrh_tflm.config import get_profile, replace
from lrh_tflm.data.synthetic import (
    GENERATOR_VERSION,
    record_labels,
    signal_rng,
    simulate,
    write_dataset,
)
from lrh_tflm.io import to_jsonable, write_json_atomic

RESULTS = Path(__file__).resolve().parent / "results" / "synth.json"


def _cpu_seconds() -> float:
    """CPU time of this process plus its reaped children (the spawned workers)."""
    own = resource.getrusage(resource.RUSAGE_SELF)
    kids = resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + kids.ru_utime + kids.ru_stime


def _time_write(cfg, workers: int, repeats: int) -> tuple[list[float], list[float]]:
    """Wall-clock records/s and records per CPU-second of each run.

    The CPU figure is what one core delivers when it is not shared; on a busy machine the
    wall-clock figure of the 2-worker runs says little.
    """
    wall, per_cpu = [], []
    for _ in range(repeats):
        with tempfile.TemporaryDirectory() as tmp:
            cpu0, start = _cpu_seconds(), time.perf_counter()
            write_dataset(Path(tmp) / "ds", cfg, progress=False, workers=workers)
            wall.append(cfg.records / (time.perf_counter() - start))
            per_cpu.append(cfg.records / (_cpu_seconds() - cpu0))
    return wall, per_cpu


def _time_simulate(cfg, repeats: int) -> list[float]:
    """Signal synthesis alone (no file writing), single process."""
    rates = []
    for _ in range(repeats):
        start = time.perf_counter()
        for i in range(cfg.records):
            simulate(signal_rng(cfg.seed, i), record_labels(cfg, i), cfg)
        rates.append(cfg.records / (time.perf_counter() - start))
    return rates


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--records", type=int, default=1200)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--profile", default="default")
    args = parser.parse_args(argv)
    cfg = replace(get_profile(args.profile).synth, records=args.records)

    one, one_cpu = _time_write(cfg, 1, args.repeats)
    two, two_cpu = _time_write(cfg, 2, args.repeats)
    load = os.getloadavg()[0]
    sim = _time_simulate(cfg, args.repeats)
    result = {
        "benchmark": "synthetic dataset generation (records/s, median of runs)",
        "generator_version": GENERATOR_VERSION,
        "records": cfg.records, "fs": cfg.fs, "seconds": cfg.seconds, "repeats": args.repeats,
        "simulate_only_records_per_s_1_worker": statistics.median(sim),
        "write_records_per_s_1_worker": statistics.median(one),
        "write_records_per_s_2_workers": statistics.median(two),
        "speedup_2_workers": statistics.median(two) / statistics.median(one),
        "write_records_per_cpu_s_1_worker": statistics.median(one_cpu),
        "write_records_per_cpu_s_2_workers": statistics.median(two_cpu),
        "load_average_1min": load,
        "runs": {"simulate_1": sim, "write_1": one, "write_2": two,
                 "write_1_per_cpu_s": one_cpu, "write_2_per_cpu_s": two_cpu},
        "machine": {"cpu_count": os.cpu_count(), "python": platform.python_version(),
                    "platform": platform.platform()},
        "note": "wall-clock rates; 2-worker runs include spawning the worker processes (about "
                "1 s). per_cpu_s rates divide by the CPU time of the process and its workers "
                "(spawn included), i.e. the rate of one unshared core. When load_average_1min "
                "exceeds the core count the machine was shared and wall-clock rates, the "
                "2-worker ones above all, are indicative only.",
    }
    write_json_atomic(RESULTS, result)
    import json
    print(json.dumps(to_jsonable(result), indent=2))
    return result


if __name__ == "__main__":
    main()
