"""Host inference: records → the int8 model on LiteRT or TFLM → per-window probabilities.

Exactly the firmware's path, on the host: the training preprocessing
(:func:`lrh_tflm.data.preprocess.prepare_signal` → sliding windows → per-window z-score →
int8 with the model's own input scale), demographics from the header, the chosen runtime,
dequantised logits → sigmoid → decision = p ≥ threshold.  Everything model-specific (leads,
fs, window, classes, thresholds, preprocessing) comes from the sidecar ``<model>.json``
written beside ``<model>.tflite`` by the export.
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import numpy as np

from lrh_tflm.artifact import Sidecar
from lrh_tflm.config import PreprocessConfig
from lrh_tflm.data.challenge import find_file, not_a_file, read_challenge_record
from lrh_tflm.data.preprocess import (
    demographics_vector,
    normalise_window,
    prepare_signal,
    sliding_windows,
)
from lrh_tflm.data.record import Record, RecordError
from lrh_tflm.tflite.runtime import Runner, make_runner, quantize_array, sigmoid
from lrh_tflm.tflite.schema import ModelFormatError

#: Signal-file suffixes accepted in place of the header's.
_RECORD_SUFFIXES = (".hea", ".mat", ".dat")


def header_path(record: str | Path) -> Path:
    """``.hea`` path of a record given as header, signal file or base name.

    A header given as such is kept as spelt (``E01.HEA``); otherwise ``.hea`` is added, or
    the ``.HEA`` beside the signal file when only that one exists (any case, one match).
    """
    path = Path(record)
    if path.suffix.lower() == ".hea":
        return path
    base = path.with_suffix("") if path.suffix.lower() in _RECORD_SUFFIXES else path
    hea = base.with_name(base.name + ".hea")
    return find_file(hea) or hea


def read_record(record: str | Path) -> Record:
    """Read one WFDB/Challenge record (labels optional).

    Raises
    ------
    RecordError
        Missing files or anything the Challenge reader rejects, naming the record.
    """
    hea = header_path(record)
    if not hea.is_file():
        raise RecordError(hea.stem, f"header {hea} {not_a_file(hea)}")
    return read_challenge_record(hea, require_labels=False)


def record_windows(record: Record, cfg: PreprocessConfig, hop: int,
                   notes: list[tuple[str, ...]] | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Model-ready float windows of a record (``notes``, if given, receives its warnings:
    :func:`~lrh_tflm.data.preprocess.check_record`).

    Returns
    -------
    (windows, starts)
        ``windows`` float32 ``(n, 1, cfg.window, leads)``, normalised as in training;
        ``starts`` the first sample of every window at ``cfg.fs``.

    Raises
    ------
    RecordError
        For records the preprocessing rejects (too short, flat, missing leads …).
    """
    x = prepare_signal(record, cfg, notes)
    windows = sliding_windows(x, cfg.window, hop)
    starts = np.arange(len(windows)) * hop if len(x) >= cfg.window else np.zeros(1, int)
    w = normalise_window(windows, cfg)
    if not np.isfinite(w).all():
        raise RecordError(record.name, "non-finite values after preprocessing (NaN in the signal?)")
    return w[:, None], starts


@dataclass
class RecordPrediction:
    """Per-window outputs of one record.

    Attributes
    ----------
    record
        Record name.
    starts_s
        Window start times in seconds.
    probabilities
        ``(n_windows, n_classes)`` sigmoid probabilities.
    decisions
        ``(n_windows, n_classes)`` booleans, probability ≥ threshold.
    """

    record: str
    starts_s: np.ndarray
    probabilities: np.ndarray
    decisions: np.ndarray
    notes: tuple[str, ...] = ()
    """Warnings about the record (unknown demographics, flat leads)."""

    @property
    def max_probability(self) -> np.ndarray:
        """Per-class aggregate over windows: the maximum probability."""
        return self.probabilities.max(axis=0)


class Predictor:
    """An int8 model plus its sidecar, ready to classify records.

    Parameters
    ----------
    model_path
        The ``.tflite``.
    sidecar
        The sidecar dict (:func:`lrh_tflm.artifact.read_bundle_sidecar`).
    runtime
        ``"litert"``, ``"litert-ref"`` or ``"tflm"``.
    """

    def __init__(self, model_path: Path, sidecar: dict, runtime: str = "litert"):
        self.model_path = Path(model_path)
        self.sidecar = sidecar
        self.meta = Sidecar.from_dict(sidecar)
        self.cfg = self.meta.preprocessing
        self.codes, self.abbreviations = list(self.meta.codes), list(self.meta.abbreviations)
        self.thresholds = np.asarray(self.meta.thresholds, np.float64)
        try:
            self.runner: Runner = make_runner(self.model_path.read_bytes(), runtime)
        except ModelFormatError as err:
            # Name the file: the runtimes' messages do not know it.
            raise ModelFormatError(f"{self.model_path}: {err}") from None
        shape = self.runner.ecg.shape
        if shape[-2:] != (self.cfg.window, len(self.cfg.leads)):
            raise ValueError(f"{self.model_path.name}: input {list(shape)} does not match the "
                             f"sidecar's {self.cfg.window} samples × {len(self.cfg.leads)} leads")

    def predict_windows(self, windows: np.ndarray, demo: np.ndarray) -> np.ndarray:
        """Probabilities ``(n, C)`` for float windows ``(n, 1, W, L)`` and one demo vector."""
        r = self.runner
        demo_q = None if r.demo is None else r.quantize_demo(demo)
        out = np.empty((len(windows), len(self.codes)))
        for i, w in enumerate(windows):
            ecg_q = quantize_array(w, r.ecg)
            logits = r.dequantize_output(r.run(ecg_q, demo_q)).reshape(-1)
            out[i] = sigmoid(logits)
        return out

    def predict_records(self, ecg: np.ndarray, demo: np.ndarray) -> np.ndarray:
        """Probabilities ``(n, C)`` of ``n`` records: ``ecg`` ``(n, 1, W, L)`` holds one window
        per record, ``(n, k, 1, W, L)`` ``k`` windows whose probabilities are averaged
        (:func:`lrh_tflm.data.pipeline.eval_windows` with a hop)."""
        per_record = ecg if ecg.ndim == 5 else ecg[:, None]
        if not len(per_record):
            return np.zeros((0, len(self.codes)))
        return np.stack([self.predict_windows(w, d).mean(axis=0) for w, d in zip(per_record, demo)])

    def predict_record(self, record: Record, hop: int) -> RecordPrediction:
        """Classify every window of a record (see :func:`record_windows`)."""
        notes: list[tuple[str, ...]] = []
        windows, starts = record_windows(record, self.cfg, hop, notes)
        probs = self.predict_windows(windows, demographics_vector(record.age, record.sex))
        return RecordPrediction(record=record.name, starts_s=starts / float(self.cfg.fs),
                                probabilities=probs, decisions=probs >= self.thresholds,
                                notes=notes[0] if notes else ())


def prediction_json_lines(pred: RecordPrediction, abbreviations: Sequence[str]) -> list[str]:
    """JSON lines: one per window, then one ``"aggregate": "max"`` line for the record."""
    lines = []
    for t, p, d in zip(pred.starts_s, pred.probabilities, pred.decisions):
        lines.append(json.dumps({
            "record": pred.record, "window_start_s": round(float(t), 4),
            "probabilities": {a: round(float(v), 5) for a, v in zip(abbreviations, p)},
            "decisions": [a for a, on in zip(abbreviations, d) if on]}))
    agg = pred.max_probability
    lines.append(json.dumps({
        "record": pred.record, "aggregate": "max", "windows": int(len(pred.starts_s)),
        "probabilities": {a: round(float(v), 5) for a, v in zip(abbreviations, agg)},
        "decisions": [a for a, on in zip(abbreviations, pred.decisions.any(axis=0)) if on]}))
    return lines


def prediction_table(pred: RecordPrediction, abbreviations: Sequence[str]) -> str:
    """A plain-text table: one row per window and a ``max`` row; ``*`` marks a positive decision."""
    width = max(7, *(len(a) for a in abbreviations))
    head = f"{pred.record:<12} {'start_s':>8} " + " ".join(f"{a:>{width}}" for a in abbreviations)
    rows = [head]

    def cells(p, d):
        return " ".join(f"{v:>{width - 1}.3f}{'*' if on else ' '}" for v, on in zip(p, d))

    for t, p, d in zip(pred.starts_s, pred.probabilities, pred.decisions):
        rows.append(f"{'':<12} {t:>8.2f} " + cells(p, d))
    rows.append(f"{'':<12} {'max':>8} " + cells(pred.max_probability, pred.decisions.any(axis=0)))
    return "\n".join(rows)


__all__ = ["header_path", "read_record", "record_windows", "RecordPrediction",
           "Predictor", "prediction_json_lines", "prediction_table"]
