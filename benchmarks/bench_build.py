"""Build benchmark (issue 6): wall time of ``lrh-tflm build`` as a user runs it.

Times the CLI (a subprocess, so start-up and imports count) on the chosen profile:

- ``cold``: empty cache folder and fresh out folder (synthetic generation and data
  preparation included);
- ``warm_cache``: the cache from the cold run, fresh out folder (every model stage runs);
- ``rerun``: the same out folder again (every stage reused);
- ``make_demo_fresh_clone`` (only with ``--fresh-clone``): ``git clone`` of this repository into
  a temporary folder and ``make demo`` there (creates ``.venv`` with pip, then the default
  profile's build; needs the package index and takes long).

Each measurement is repeated ``--repeats`` times; the median is reported.  Writes
``results/build.json``.

Run: ``python benchmarks/bench_build.py [--profile smoke] [--repeats 1] [--fresh-clone]``.
"""
from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import lrh_tflm  # noqa: F401  (environment first, as everywhere in the project)

from _bench import RESULTS, machine, save_results

REPO = Path(__file__).resolve().parent.parent


def _cli() -> list[str]:
    """The ``lrh-tflm`` entry point of the running interpreter's environment."""
    exe = Path(sys.executable).parent / "lrh-tflm"
    return [str(exe)] if exe.exists() else [sys.executable, "-m", "lrh_tflm.cli"]


def _timed(cmd: list[str], env: dict, cwd: Path | None = None, log: Path | None = None) -> float:
    """Run a command to completion; its wall time in seconds (raises when it fails)."""
    t0 = time.perf_counter()
    proc = subprocess.run(cmd, env=env, cwd=cwd, capture_output=True, text=True)
    seconds = time.perf_counter() - t0
    if log is not None:
        log.write_text(proc.stdout + proc.stderr)
    if proc.returncode != 0:
        tail = "\n".join((proc.stdout + proc.stderr).splitlines()[-20:])
        raise RuntimeError(f"{' '.join(cmd)} failed with exit code {proc.returncode}:\n{tail}")
    return seconds


def build_times(profile: str, repeats: int, leads: str) -> dict:
    """Cold, warm-cache and rerun wall times of ``lrh-tflm build`` (lists of seconds)."""
    times = {"cold": [], "warm_cache": [], "rerun": []}
    for _ in range(repeats):
        with tempfile.TemporaryDirectory(prefix="lrh-bench-build-") as tmp:
            tmp = Path(tmp)
            env = {**os.environ, "LRH_TFLM_CACHE": str(tmp / "cache")}
            base = _cli() + ["build", "--leads", leads, "--profile", profile]
            times["cold"].append(_timed(base + ["--out", str(tmp / "cold")], env))
            times["warm_cache"].append(_timed(base + ["--out", str(tmp / "warm")], env))
            times["rerun"].append(_timed(base + ["--out", str(tmp / "warm")], env,
                                         log=tmp / "rerun.log"))
            reused = (tmp / "rerun.log").read_text().count("reused")
            times.setdefault("rerun_stages_reused", []).append(reused)
    return times


def fresh_clone_time(profile: str) -> float:
    """``git clone`` + ``make demo`` in a temporary folder (its own ``.venv`` and cache)."""
    with tempfile.TemporaryDirectory(prefix="lrh-bench-clone-") as tmp:
        tmp = Path(tmp)
        env = {**os.environ, "LRH_TFLM_CACHE": str(tmp / "cache")}
        env.pop("VIRTUAL_ENV", None)
        t0 = time.perf_counter()
        _timed(["git", "clone", "--quiet", str(REPO), str(tmp / "repo")], env)
        _timed(["make", "demo", f"PROFILE={profile}"], env, cwd=tmp / "repo",
               log=tmp / "make.log")
        return time.perf_counter() - t0


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--profile", default="smoke")
    parser.add_argument("--leads", default="2")
    parser.add_argument("--repeats", type=int, default=1)
    parser.add_argument("--fresh-clone", action="store_true",
                        help="also time git clone + make demo (long; needs the package index)")
    parser.add_argument("--clone-profile", default="default",
                        help="PROFILE passed to make demo in the fresh clone")
    parser.add_argument("--out", type=Path, default=RESULTS / "build.json")
    args = parser.parse_args(argv)
    times = build_times(args.profile, args.repeats, args.leads)
    result = {"benchmark": "lrh-tflm build wall time (CLI subprocess, median of repeats)",
              "profile": args.profile, "leads": args.leads, "repeats": args.repeats,
              **{f"{k}_s": round(statistics.median(v), 1) for k, v in times.items()
                 if k != "rerun_stages_reused"},
              "rerun_stages_reused": times["rerun_stages_reused"],
              "runs_s": {k: [round(x, 2) for x in v] for k, v in times.items()
                         if k != "rerun_stages_reused"},
              "machine": machine()}
    if args.fresh_clone:
        result["make_demo_fresh_clone_s"] = round(fresh_clone_time(args.clone_profile), 1)
        result["make_demo_profile"] = args.clone_profile
    else:
        previous = RESULTS / "build.json"
        if previous.exists():
            from lrh_tflm.io import read_json

            old = read_json(previous)
            if "make_demo_fresh_clone_s" in old:  # keep the last measured clone time
                result["make_demo_fresh_clone_s"] = old["make_demo_fresh_clone_s"]
                result["make_demo_profile"] = old.get("make_demo_profile")
    save_results(args.out, result)
    return result


if __name__ == "__main__":
    main()
