"""Benchmark of PTB-XL ingest: list, read, check, resample, band-pass and cache all 21,799 records.

For each profile (``default``: 125 Hz, window 1024; ``ptbxl`` where ``config.py`` has it) a
first :func:`~lrh_tflm.data.cache.prepare` of the whole table into an empty cache folder, then
a cached re-run, each in its own Python process (so each has its own peak memory and the
re-run is what a second build sees).  Reported: records/s of the first run (wall clock, from
opening the table to the finished cache, with ``--workers`` processes, 2 by default), its CPU
time per record (which other load on the machine does not change), peak resident memory
(``getrusage`` ``ru_maxrss`` of the process and, separately, of its largest worker), the
cache size, and the re-run time and its ratio to the first run.  Targets: ≥ 300 records/s on
2 cores, re-run < 5 % of the first.

The label space is ``all`` by default, so that every record has a label and every record is
read and preprocessed (``--labels profile`` uses the profile's own label configuration).
Results go to ``benchmarks/results/ingest-ptbxl.json``, written atomically after each
profile; a rerun of the script skips the profiles already measured on the same data with
the same settings (``--force`` measures again).  The OS page cache is not dropped: files
read recently may come from memory.

Run::

    python benchmarks/bench_ingest_ptbxl.py --data /path/to/ptb-xl          # unpacked PTB-XL
    python benchmarks/bench_ingest_ptbxl.py --unpack-to /tmp/ptbxl           # from ../shared first
"""
from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from _bench import RESULTS, load_results, machine, save_results  # noqa: E402

OUT = RESULTS / "ingest-ptbxl.json"
SHARED = HERE.parent.parent / "shared" / "data" / "ptb-xl"
TARGETS = {"records_per_s": 300.0, "rerun_fraction_below": 0.05}


def _cpu_s() -> float:
    """CPU seconds of this process and its finished children (the worker processes)."""
    own = resource.getrusage(resource.RUSAGE_SELF)
    kids = resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + kids.ru_utime + kids.ru_stime


def _folder_bytes(path: Path) -> int:
    return sum(p.stat().st_size for p in Path(path).rglob("*") if p.is_file())


def run_once(data: Path, profile: str, labels: str, cache: Path, workers: int) -> dict:
    """One ``open_source`` + ``prepare`` in this process; the facts as a dict."""
    import lrh_tflm  # noqa: F401  (environment first, as everywhere in the project)
    from lrh_tflm.config import get_profile, replace
    from lrh_tflm.data.cache import prepare
    from lrh_tflm.data.record import ProblemLog
    from lrh_tflm.data.sources import open_source

    prof = get_profile(profile)
    label_cfg = prof.labels if labels == "profile" else replace(prof.labels, space=labels)
    cpu0, start = _cpu_s(), time.perf_counter()
    source = open_source(f"ptbxl:{data}", ptbxl_rate=100)
    listed_s = time.perf_counter() - start
    problems = ProblemLog()
    prepared = prepare(source, prof.data, label_cfg, cache, problems=problems, workers=workers,
                       progress=False)
    wall = time.perf_counter() - start
    cpu = _cpu_s() - cpu0
    reasons: dict[str, int] = {}
    for p in problems:
        reasons[p.reason] = reasons.get(p.reason, 0) + 1
    own = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0   # Linux: KiB
    kids = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024.0
    return {"wall_s": round(wall, 3), "listing_s": round(listed_s, 3), "cpu_s": round(cpu, 3),
            "records_listed": len(source.refs()) + len(source.listing_problems()),
            "records_prepared": len(prepared), "skipped": reasons,
            "label_space": label_cfg.space, "classes": len(prepared.classes),
            "x_shape": list(prepared.x.shape),
            "peak_rss_mb": round(own, 1), "peak_rss_largest_worker_mb": round(kids, 1),
            "cache_bytes": _folder_bytes(prepared.path)}


def _child(args: argparse.Namespace, cache: Path) -> dict:
    cmd = [sys.executable, str(Path(__file__).resolve()), "--one", args.profile_one or "",
           "--data", str(args.data), "--labels", args.labels, "--workers", str(args.workers),
           "--cache", str(cache)]
    res = subprocess.run(cmd, capture_output=True, text=True, env={**os.environ,
                                                                    "TF_CPP_MIN_LOG_LEVEL": "2"})
    if res.returncode != 0:
        raise SystemExit(f"benchmark child failed ({res.returncode}):\n{res.stderr[-3000:]}")
    return json.loads(res.stdout.strip().splitlines()[-1])


def measure(args: argparse.Namespace, profile: str) -> dict:
    """First run into an empty cache, then the cached re-run, each in a fresh process."""
    parent = Path(args.cache) if args.cache else Path(tempfile.gettempdir())
    parent.mkdir(parents=True, exist_ok=True)
    cache = Path(tempfile.mkdtemp(prefix=f"bench-ingest-{profile}-", dir=parent))
    try:
        args.profile_one = profile
        first = _child(args, cache)
        rerun = _child(args, cache)
    finally:
        if not args.keep_cache:
            shutil.rmtree(cache, ignore_errors=True)
    from lrh_tflm.config import get_profile

    pre = get_profile(profile).data
    rate = first["records_listed"] / first["wall_s"]
    fraction = rerun["wall_s"] / first["wall_s"]
    return {
        "preprocess": {"fs": pre.fs, "window": pre.window, "cache_len": pre.cache_len},
        "first": first,
        "rerun": rerun,
        "records_per_s": round(rate, 1),
        "prepared_records_per_s": round(first["records_prepared"] / first["wall_s"], 1),
        "cpu_ms_per_record": round(1000 * first["cpu_s"] / first["records_listed"], 3),
        "records_per_s_if_cores_idle": round(args.workers * first["records_listed"]
                                             / first["cpu_s"], 1),
        "rerun_s": rerun["wall_s"],
        "rerun_fraction": round(fraction, 4),
        "peak_rss_mb": first["peak_rss_mb"],
        "peak_rss_largest_worker_mb": first["peak_rss_largest_worker_mb"],
        "met": {"records_per_s": rate >= TARGETS["records_per_s"],
                "rerun": fraction < TARGETS["rerun_fraction_below"]},
        "machine": machine(),
        "measured": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    }


def _unpack(dest: Path) -> float:
    start = time.perf_counter()
    if not (dest / "ptbxl_database.csv").is_file():
        subprocess.run([sys.executable, str(SHARED / "unpack.py"), str(dest)], check=True)
    return time.perf_counter() - start


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    src = ap.add_mutually_exclusive_group()
    src.add_argument("--data", type=Path, help="an unpacked PTB-XL folder (ptbxl_database.csv)")
    src.add_argument("--unpack-to", type=Path,
                     help="unpack ../shared/data/ptb-xl here first (not timed; kept)")
    ap.add_argument("--profiles", default=None,
                    help="comma-separated profiles [default: default, and ptbxl if it exists]")
    ap.add_argument("--labels", default="all",
                    help="label space ('all': every record is labelled), or 'profile'")
    ap.add_argument("--workers", type=int, default=2, help="worker processes [2]")
    ap.add_argument("--cache", type=Path, default=None,
                    help="folder for the (temporary) benchmark caches [system temp]")
    ap.add_argument("--keep-cache", action="store_true", help="keep the prepared caches")
    ap.add_argument("--force", action="store_true", help="measure profiles already in the results")
    ap.add_argument("--results", type=Path, default=OUT, help=f"results file [{OUT}]")
    ap.add_argument("--one", dest="one", default=None, help=argparse.SUPPRESS)
    args = ap.parse_args(argv)

    if args.one:  # child: one run, facts on stdout
        print(json.dumps(run_once(args.data.resolve(), args.one, args.labels, args.cache,
                                  args.workers)))
        return

    unpack_s = None
    if args.unpack_to is not None:
        unpack_s = _unpack(args.unpack_to)
        args.data = args.unpack_to
    if args.data is None:
        ap.error("give --data DIR (an unpacked PTB-XL) or --unpack-to DIR")
    args.data = args.data.resolve()

    from lrh_tflm.config import PROFILES

    profiles = args.profiles.split(",") if args.profiles else \
        ["default"] + (["ptbxl"] if "ptbxl" in PROFILES else [])
    settings = {"data": str(args.data), "workers": args.workers, "labels": args.labels}
    results = load_results(args.results)
    if results.get("settings") != settings:
        results = {}
    results.update({
        "benchmark": "PTB-XL ingest: open_source + prepare of every record, then a cached re-run",
        "settings": settings,
        "targets": {"records_per_s_on_2_cores": TARGETS["records_per_s"],
                    "rerun_fraction_below": TARGETS["rerun_fraction_below"]},
        "notes": ("records_per_s = records in the table / wall time of the first run (listing "
                  "included); peak_rss_mb is ru_maxrss of the main process, "
                  "peak_rss_largest_worker_mb that of its largest worker process (ru_maxrss of "
                  "RUSAGE_CHILDREN is a maximum, not a sum); the OS page cache was not dropped"),
    })
    if unpack_s is not None:
        results["unpack_s"] = round(unpack_s, 1)
    results.setdefault("profiles", {})
    for profile in profiles:
        if profile in results["profiles"] and not args.force:
            print(f"{profile}: already measured (use --force to measure again)")
            continue
        print(f"{profile}: measuring …", flush=True)
        results["profiles"][profile] = measure(args, profile)
        save_results(args.results, results, show=False)
        r = results["profiles"][profile]
        print(f"{profile}: {r['records_per_s']} records/s ({r['first']['wall_s']} s for "
              f"{r['first']['records_listed']} records, {r['cpu_ms_per_record']} CPU ms/record), "
              f"peak {r['peak_rss_mb']} MB (+ worker {r['peak_rss_largest_worker_mb']} MB), "
              f"re-run {r['rerun_s']} s = {100 * r['rerun_fraction']:.2f} % — met {r['met']}",
              flush=True)
    save_results(args.results, results, show=False)


if __name__ == "__main__":
    main()
