"""Shared pytest fixtures: where the real PhysioNet sample records live, and copies of them."""
from __future__ import annotations

import shutil
from pathlib import Path

import pytest

import lrh_tflm  # noqa: F401  (sets TF_USE_LEGACY_KERAS before anything imports TensorFlow)

#: Real Challenge sample records shipped next to the repository (read-only).
SAMPLES_DIR = Path(__file__).resolve().parents[2] / "shared" / "data" / "challenge-samples"


@pytest.fixture(scope="session")
def samples_dir() -> Path:
    """The folder of real PhysioNet/CinC sample records; the test is skipped when it is absent."""
    if not SAMPLES_DIR.is_dir():
        pytest.skip(f"real Challenge sample records not found at {SAMPLES_DIR}")
    return SAMPLES_DIR


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
