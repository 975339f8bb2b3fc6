"""The parity chain: the int8 model gives the same answers on every runtime it will meet.

Three checks, each on every window given:

1. TFLM host runtime == LiteRT reference kernels, bit for bit (the microcontroller runs the
   TFLM kernels; LiteRT-ref is the converter's own arithmetic);
2. LiteRT default kernels (XNNPACK) within ``max_lsb`` (1) int8 steps of the reference;
3. the int8 decisions (dequantise → sigmoid → ≥ threshold) agree with the Keras (QAT) model's
   decisions on at least ``min_agreement`` (99 %) of (window, class) pairs.

Every failing window is listed with its record name, class and both values, so a mismatch
can be traced to the record that caused it.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Mapping, Sequence

import numpy as np

from lrh_tflm.interpreters import ModelFormatError, Runner, first_divergence, make_runner
from lrh_tflm.io import write_json_atomic


@dataclass(frozen=True)
class ParityFailure:
    """One (window, class) where a check failed.

    Attributes
    ----------
    check
        ``"tflm-vs-ref"``, ``"xnnpack-vs-ref"`` or ``"decision"``.
    record
        Record name the window came from.
    window
        Index of the window in the batch given to :func:`parity_chain`.
    cls
        Class name (abbreviation or code).
    a, b
        The two values compared: raw int8 outputs (TFLM or XNNPACK, then reference) for the
        runtime checks; int8-model probability and Keras probability for decisions.
    """

    check: str
    record: str
    window: int
    cls: str
    a: float
    b: float

    def __str__(self) -> str:
        return f"{self.check}: {self.record} window {self.window} class {self.cls}: {self.a:g} vs {self.b:g}"


@dataclass
class ParityReport:
    """Outcome of :func:`parity_chain`.

    Attributes
    ----------
    n_windows
        Windows checked.
    exact_tflm_ref
        Share of windows whose TFLM output equals LiteRT-ref exactly (all classes).
    max_lsb_xnnpack
        Largest |XNNPACK − reference| in int8 steps over all windows and classes; ``None``
        when XNNPACK cannot prepare the model at all (``xnnpack_error`` says why).  XNNPACK is
        a host path only, so that case is reported but does not fail the chain.
    decision_agreement
        Share of (window, class) pairs where int8 and Keras decisions agree (``None`` without
        a Keras model).
    failures
        Every failing (window, class), see :class:`ParityFailure`.
    passed
        All checks within their limits.
    max_lsb_allowed, min_agreement
        The limits applied.
    max_lsb_tflm
        Largest |TFLM − reference| in int8 steps (0 when bit-exact).
    tflm_tolerance_lsb
        The TFLM limit applied (0: bit-exact required).
    divergence
        For the first window where TFLM and the reference differ: the record, window and the
        first operator whose output differs (:func:`lrh_tflm.interpreters.first_divergence`).
    """

    n_windows: int
    exact_tflm_ref: float
    max_lsb_xnnpack: int | None
    decision_agreement: float | None
    failures: list[ParityFailure] = field(default_factory=list)
    passed: bool = False
    max_lsb_allowed: int = 1
    min_agreement: float = 0.99
    max_lsb_tflm: int = 0
    tflm_tolerance_lsb: int = 0
    divergence: dict | None = None
    xnnpack_error: str | None = None

    def summary(self) -> str:
        """One line: the three numbers and the verdict."""
        agree = ("n/a (no Keras model)" if self.decision_agreement is None
                 else f"{100 * self.decision_agreement:.2f} %")
        xnn = (f"XNNPACK max {self.max_lsb_xnnpack} LSB (≤ {self.max_lsb_allowed})"
               if self.xnnpack_error is None else "XNNPACK cannot run the model")
        verdict = "PASS" if self.passed else f"FAIL ({len(self.failures)} failing window-class pairs)"
        where = ""
        if self.divergence and self.divergence.get("op_name"):
            where = f" (max {self.max_lsb_tflm} LSB, first at {self.divergence['op_name']})"
        return (f"parity on {self.n_windows} windows: TFLM == LiteRT-ref on "
                f"{100 * self.exact_tflm_ref:.2f} %{where}, {xnn}, decisions agree {agree} — {verdict}")

    def to_dict(self) -> dict:
        d = asdict(self)
        d["summary"] = self.summary()
        return d

    def save(self, path: Path) -> None:
        """Write the report as JSON, atomically."""
        write_json_atomic(Path(path), self.to_dict())


def _sigmoid(x: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-np.asarray(x, dtype=np.float64)))


def keras_logits(keras_model, windows: np.ndarray, demo: np.ndarray | None,
                 batch_size: int = 64) -> np.ndarray:
    """Float logits ``(n, C)`` of a Keras model with inputs ``ecg`` (and ``demo``)."""
    names = [t.name.split(":")[0] for t in keras_model.inputs]
    feeds = []
    for name in names:
        if "demo" in name:
            if demo is None:
                raise ValueError("the Keras model has a demographics input; pass demo")
            feeds.append(np.asarray(demo, np.float32))
        else:
            feeds.append(np.asarray(windows, np.float32))
    x = feeds if len(feeds) > 1 else feeds[0]
    return np.asarray(keras_model.predict(x, batch_size=batch_size, verbose=0), np.float64)


def parity_chain(tflite_int8: bytes, windows: np.ndarray, demo: np.ndarray | None,
                 names: Sequence[str], *, thresholds: Sequence[float], classes: Sequence[str],
                 keras_model=None, max_lsb: int = 1, min_agreement: float = 0.99,
                 tflm_tolerance_lsb: int = 0, arena_size: int | None = None,
                 runners: Mapping[str, Runner] | None = None) -> ParityReport:
    """Check the int8 model on TFLM, LiteRT-ref and LiteRT-XNNPACK, and against Keras.

    Parameters
    ----------
    tflite_int8
        The full-int8 flatbuffer.
    windows
        Float (normalised) windows ``(n, 1, W, L)``; quantised with the model's input scale.
    demo
        Float demographics ``(n, 5)``, or ``None`` for an ECG-only model.
    names
        Record name of every window (length ``n``), used in failure reports.
    thresholds
        Decision threshold per class on the sigmoid probability.
    classes
        Class names for reports (abbreviations or codes), one per output.
    keras_model
        The float/QAT Keras model whose decisions the int8 model must reproduce; ``None``
        skips the decision check.
    max_lsb, min_agreement
        Limits for the XNNPACK check and the decision check.
    tflm_tolerance_lsb
        Allowed |TFLM − reference|; 0 (default) demands bit-exact outputs.  Differences are
        always listed as failures and counted in ``exact_tflm_ref`` whatever the tolerance.
    arena_size
        TFLM arena; ``None`` measures it.
    runners
        Pre-built runners by runtime name (``"tflm"``, ``"litert-ref"``, ``"litert"``), e.g.
        to reuse loaded interpreters; missing ones are built here.

    Returns
    -------
    ParityReport
    """
    windows = np.asarray(windows, np.float32)
    n = len(windows)
    names = list(names)
    if len(names) != n:
        raise ValueError(f"{len(names)} names for {n} windows")
    if n == 0:
        raise ValueError("no windows to check parity on")
    thresholds = np.asarray(thresholds, np.float64)
    classes = [str(c) for c in classes]

    runners = dict(runners or {})
    xnnpack_error = None
    for rt in ("litert-ref", "tflm", "litert"):
        if rt not in runners:
            try:
                runners[rt] = make_runner(tflite_int8, rt, arena_size=arena_size)
            except ModelFormatError as err:
                if rt != "litert":
                    raise
                xnnpack_error = str(err)
    ref_runner = runners["litert-ref"]
    n_classes = int(np.prod(ref_runner.output.shape))
    if len(classes) != n_classes or len(thresholds) != n_classes:
        raise ValueError(f"model has {n_classes} outputs but {len(classes)} classes and "
                         f"{len(thresholds)} thresholds were given")
    if ref_runner.demo is not None and demo is None:
        raise ValueError("the model has a demographics input; pass demo")

    outs = {rt: np.empty((n, n_classes), dtype=np.int64) for rt in runners}
    for i in range(n):
        for rt, runner in runners.items():
            ecg_q = runner.quantize_ecg(windows[i])
            demo_q = None if runner.demo is None else runner.quantize_demo(demo[i])
            outs[rt][i] = np.asarray(runner.run(ecg_q, demo_q)).reshape(-1)

    failures: list[ParityFailure] = []
    ref, tflm = outs["litert-ref"], outs["tflm"]
    xnn = outs.get("litert", ref)
    for i, c in zip(*np.nonzero(tflm != ref)):
        failures.append(ParityFailure("tflm-vs-ref", names[i], int(i), classes[c],
                                      float(tflm[i, c]), float(ref[i, c])))
    lsb = np.abs(xnn - ref)
    for i, c in zip(*np.nonzero(lsb > max_lsb)):
        failures.append(ParityFailure("xnnpack-vs-ref", names[i], int(i), classes[c],
                                      float(xnn[i, c]), float(ref[i, c])))
    exact = float(np.mean(np.all(tflm == ref, axis=1)))
    max_lsb_tflm = int(np.abs(tflm - ref).max())
    divergence = None
    if max_lsb_tflm:
        i = int(np.nonzero(np.any(tflm != ref, axis=1))[0][0])
        r = runners["tflm"]
        where = first_divergence(tflite_int8, r.quantize_ecg(windows[i]),
                                 None if r.demo is None else r.quantize_demo(demo[i]))
        divergence = {"record": names[i], "window": i, **(where or {})}
    max_lsb_seen = int(lsb.max()) if xnnpack_error is None else None

    agreement = None
    if keras_model is not None:
        p_int8 = _sigmoid(ref_runner.dequantize_output(ref))
        p_keras = _sigmoid(keras_logits(keras_model, windows, demo)).reshape(n, n_classes)
        d_int8, d_keras = p_int8 >= thresholds, p_keras >= thresholds
        agreement = float(np.mean(d_int8 == d_keras))
        for i, c in zip(*np.nonzero(d_int8 != d_keras)):
            failures.append(ParityFailure("decision", names[i], int(i), classes[c],
                                          float(p_int8[i, c]), float(p_keras[i, c])))

    passed = (max_lsb_tflm <= tflm_tolerance_lsb and (max_lsb_seen or 0) <= max_lsb
              and (agreement is None or agreement >= min_agreement))
    return ParityReport(n_windows=n, exact_tflm_ref=exact, max_lsb_xnnpack=max_lsb_seen,
                        decision_agreement=agreement, failures=failures, passed=passed,
                        max_lsb_allowed=max_lsb, min_agreement=min_agreement,
                        max_lsb_tflm=max_lsb_tflm, tflm_tolerance_lsb=tflm_tolerance_lsb,
                        divergence=divergence, xnnpack_error=xnnpack_error)


__all__ = ["ParityFailure", "ParityReport", "parity_chain", "keras_logits"]
