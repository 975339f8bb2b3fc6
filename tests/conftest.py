"""Shared pytest fixtures: where the real PhysioNet sample records live, and copies of them."""
from __future__ import annotations

import contextlib
import fcntl
import json
import os
import re
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

import lrh_tflm  # noqa: F401  (sets TF_USE_LEGACY_KERAS before anything imports TensorFlow)

#: The shared folder next to the repository (real data, read-only).
SHARED_DIR = Path(__file__).resolve().parents[2] / "shared"
#: Real Challenge sample records shipped next to the repository (read-only).
SAMPLES_DIR = SHARED_DIR / "data" / "challenge-samples"


def require_shared(path: Path) -> Path:
    """``path`` (under :data:`SHARED_DIR`) if it exists; otherwise skip the test, or fail it
    when ``CI=true`` — in CI the real data must be there, and a skip would hide its absence."""
    if not path.exists():
        message = f"{path} not found (the shared real-data folder next to the repository)"
        if os.environ.get("CI", "").strip().lower() == "true":
            pytest.fail(message + "; CI=true requires it")
        pytest.skip(message)
    return path


@pytest.fixture(scope="session")
def samples_dir() -> Path:
    """The folder of real PhysioNet/CinC sample records (skipped when absent, failed in CI)."""
    return require_shared(SAMPLES_DIR)


@pytest.fixture
def copy_sample(samples_dir, tmp_path):
    """Copy one sample record (``.hea`` + signal file) into a folder under ``tmp_path``.

    Call as ``copy_sample("cinc2021", "JS20000")`` (optionally ``dest=...``); returns the
    path of the copied header.  The copies are writable, so tests may corrupt them.
    """

    def _copy(collection: str, name: str, dest: Path | None = None) -> Path:
        dest = Path(dest) if dest is not None else tmp_path / "records"
        dest.mkdir(parents=True, exist_ok=True)
        src = samples_dir / collection
        for path in src.glob(name + ".*"):
            target = dest / path.name
            shutil.copyfile(path, target)
        return dest / f"{name}.hea"

    return _copy


# ----------------------------------------------------------------------------- smoke build
#: ``python -m lrh_tflm.cli``: the CLI in a fresh process, so a test can kill it.
CLI = (sys.executable, "-m", "lrh_tflm.cli")
#: A line of TensorFlow's C++ log (``E0000 …``, ``I0000 …``) or absl's pre-init notice.
TF_LOG_LINE = re.compile(r"^([IWEF]\d{4} \d|WARNING: All log messages before absl)", re.M)


def run_cli(args, *, cache: Path, timeout: float = 600, check: bool = False):
    """Run ``lrh-tflm ARGS`` in a subprocess with ``LRH_TFLM_CACHE=cache``; return the result.

    stdout and stderr are captured as text; with ``check`` a non-zero exit fails the test
    showing the output.
    """
    # As a user runs it: TensorFlow's start-up noise is the CLI's to silence (tfquiet).
    env = {k: v for k, v in os.environ.items()
           if k not in ("TF_CPP_MIN_LOG_LEVEL", "LRH_TFLM_VERBOSE")}
    env["LRH_TFLM_CACHE"] = str(cache)
    res = subprocess.run([*CLI, *map(str, args)], capture_output=True, text=True, env=env,
                         timeout=timeout)
    if check and res.returncode != 0:
        pytest.fail(f"lrh-tflm {' '.join(map(str, args))} exited {res.returncode}:\n"
                    f"{res.stdout[-3000:]}\n{res.stderr[-3000:]}")
    return res


@dataclass(frozen=True)
class SmokeBuild:
    """One finished ``lrh-tflm build --profile smoke`` shared by the whole session."""

    out: Path
    cache: Path
    stdout: str
    stderr: str


def _run_dir(tmp_path_factory, name: str) -> Path:
    """A folder of this test run shared by every pytest-xdist worker (each worker has its own
    base temp folder; their parent is the run's)."""
    base = tmp_path_factory.getbasetemp()
    if os.environ.get("PYTEST_XDIST_WORKER"):
        base = base.parent
    path = base / name
    path.mkdir(exist_ok=True)
    return path


@contextlib.contextmanager
def _exclusive(folder: Path):
    """Hold ``folder/.lock``: one worker makes what the others then reuse."""
    with open(folder / ".lock", "a") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


@pytest.fixture(scope="session")
def smoke_cache(tmp_path_factory) -> Path:
    """The run's cache folder: the synthetic set and prepared caches are made once (cache
    writes are atomic, so workers share it safely)."""
    return _run_dir(tmp_path_factory, "lrh_cache")


@pytest.fixture(scope="session")
def smoke_build(tmp_path_factory, smoke_cache) -> SmokeBuild:
    """Run the smoke build once per test run (about 1.5 min on 2 cores) and share it: the
    first worker that asks builds it, the others wait for it and read its output."""
    folder = _run_dir(tmp_path_factory, "smoke_build")
    out, result = folder / "build", folder / "result.json"
    with _exclusive(folder):
        if not result.is_file():
            res = run_cli(["build", "--profile", "smoke", "--out", out, "--quiet", "--workers",
                           "1"], cache=smoke_cache, check=True)
            result.write_text(json.dumps({"stdout": res.stdout, "stderr": res.stderr}))
    printed = json.loads(result.read_text())
    return SmokeBuild(out=out, cache=smoke_cache, stdout=printed["stdout"],
                      stderr=printed["stderr"])
