"""Helpers shared by the benchmark scripts: data preparation, machine facts, result files.

Benchmarks are scripts at the edge of the project, so they may read the environment (the cache
folder) and write ``benchmarks/results/*.json``; the library code they call does not.
"""
from __future__ import annotations

import json
import os
import platform
import re
from pathlib import Path

import lrh_tflm  # noqa: F401  (environment first, as everywhere in the project)
from lrh_tflm.io import read_json, to_jsonable, write_json_atomic

RESULTS = Path(__file__).resolve().parent / "results"
#: The sketch's generated model files (the committed firmware model).
SKETCH_SRC = Path(__file__).resolve().parents[1] / "firmware" / "lrh_ecg" / "src"


def machine() -> dict:
    """Where the numbers were measured (cores, load, Python, platform)."""
    return {"cpu_count": os.cpu_count(), "load_average_1min": round(os.getloadavg()[0], 2),
            "python": platform.python_version(), "platform": platform.platform(),
            "gpu": "none (CPU only)"}


def committed_model_sha256(src: Path = SKETCH_SRC) -> str | None:
    """``kModelSha256`` of the model in a sketch's ``model_data.h`` (``None`` if it has none)."""
    header = Path(src) / "model_data.h"
    m = re.search(r'kModelSha256\[\]\s*=\s*"([0-9a-f]{64})"', header.read_text()) \
        if header.exists() else None
    return m.group(1) if m else None


def cache_dir() -> Path:
    """The CLI's cache folder (``$LRH_TFLM_CACHE`` or the XDG cache)."""
    from lrh_tflm._cli.common import default_cache_dir

    return default_cache_dir()


def prepare_synthetic(profile, cache: Path | None = None, seed: int = 0):
    """The profile's synthetic default, prepared and split as :func:`lrh_tflm.pipeline.build.build` does.

    Returns
    -------
    tuple
        ``(prepared, splits)`` with the split seeded by ``seed`` (as ``BuildOptions.seed``).
    """
    from dataclasses import replace

    from lrh_tflm.pipeline.recipes import prepare_data

    profile = replace(profile, split=replace(profile.split, seed=seed))
    data = prepare_data("synthetic", profile, Path(cache or cache_dir()), progress=False)
    if len(data.problems):
        raise RuntimeError("the synthetic default reported problems: "
                           f"{data.problems.summary(limit=3)}")
    return data.prepared, data.splits


def load_results(path: Path) -> dict:
    """A results file, or an empty dict when there is none yet."""
    return read_json(path) if Path(path).exists() else {}


def save_results(path: Path, result: dict, show: bool = True) -> None:
    """Write a results file atomically (strict JSON) and optionally print it."""
    write_json_atomic(path, result)
    if show:
        print(json.dumps(to_jsonable(result), indent=2))
