"""The committed firmware model's per-task and per-class table (benchmarks/bench_firmware_model.py)."""
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))
import bench_firmware_model as B  # noqa: E402
from bench_ptbxl import TASKS  # noqa: E402

CLASSES = [*TASKS["superdiagnostic"], *TASKS["rhythm"]]


def _labels(n: int = 400, seed: int = 0):
    rng = np.random.default_rng(seed)
    y = np.zeros((n, len(CLASSES)), dtype=bool)
    y[np.arange(n), rng.integers(0, len(CLASSES), n)] = True
    y[: n // 4, 0] = True  # some records carry a superdiagnostic and a rhythm label
    return rng, y


def test_each_task_is_scored_on_its_own_records_at_the_given_thresholds():
    rng, y = _labels()
    probs = np.clip(y * 0.6 + rng.uniform(0, 0.5, y.shape), 0, 1)
    out = B.score(y, probs, np.full(len(CLASSES), 0.55), CLASSES)
    sup = [CLASSES.index(c) for c in TASKS["superdiagnostic"]]
    assert out["superdiagnostic"]["records"] == int(y[:, sup].any(axis=1).sum()) < len(y)
    assert tuple(out["rhythm"]["classes"]) == tuple(TASKS["rhythm"])
    norm = out["superdiagnostic"]["classes"]["NORM"]
    assert norm["positives"] == int(y[:, 0].sum()) and norm["auroc"] == 1.0 and norm["f1"] == 1.0
    # A threshold above every probability decides nothing: F1 0, AUROC unchanged.
    none = B.score(y, probs, np.full(len(CLASSES), 1.1), CLASSES)
    assert none["superdiagnostic"]["macro_f1"] == 0.0
    assert none["superdiagnostic"]["macro_auroc"] == out["superdiagnostic"]["macro_auroc"]


def test_a_class_without_test_positives_is_a_gap_not_a_number():
    rng, y = _labels()
    y[:, CLASSES.index("TRIGU")] = False
    out = B.score(y, rng.uniform(size=y.shape), np.full(len(CLASSES), 0.5), CLASSES)
    row = out["rhythm"]["classes"]["TRIGU"]
    assert row == {"positives": 0, "auroc": None, "f1": None}
    table = B.markdown({"tasks": out})
    assert "| TRIGU | 0 | — | — |" in table
    # Every class appears once, in two side-by-side halves.
    body = [line for line in table.splitlines()[7:]]
    assert len(body) == (len(CLASSES) + 1) // 2
    assert sum(table.count(f"| {c} |") for c in CLASSES) == len(CLASSES)


def test_the_committed_sha_is_read_from_the_sketch(tmp_path):
    assert B.committed_model_sha256(tmp_path) is None
    sha = "ab" * 32
    (tmp_path / "model_data.h").write_text(f'constexpr const char kModelSha256[] = "{sha}";\n')
    assert B.committed_model_sha256(tmp_path) == sha
    assert len(B.committed_model_sha256()) == 64  # the real sketch has one
