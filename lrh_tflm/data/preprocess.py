"""Record-level preprocessing shared by the training cache, host inference and the firmware.

Pure numpy/scipy, no TensorFlow.  The firmware re-implements exactly these steps in C++,
so every step is deliberately simple and documented to the arithmetic:

1. :func:`check_record` — refuse records that cannot be used (NaN/inf, flat leads, too
   short, a sampling rate that cannot be resampled).
2. :func:`to_canonical` — rows in the configured canonical lead order; III, aVR, aVL and
   aVF are derived from I and II when the record lacks them.
3. :func:`resample` — polyphase resampling (``scipy.signal.resample_poly``) by the exact
   rational ratio ``fs_out / fs_in``.
4. Band-pass — Butterworth second-order sections from :func:`bandpass_sos`, applied
   *causally* with zero initial state (``scipy.signal.sosfilt``; Direct Form II
   transposed), because the firmware filters a live stream and cannot look ahead.
5. :func:`fit_length` (cache) or :func:`sliding_windows` (inference), then
   :func:`normalise_window` per window and lead, then the model input's own quantiser
   (:func:`lrh_tflm.tflite.runtime.quantize_array`) to int8.

Steps 1–4 are :func:`prepare_signal` (:func:`prepare_signals` for several records at once,
with the same result for each).
"""
from __future__ import annotations

import dataclasses
import math
from fractions import Fraction
from functools import lru_cache
from typing import Sequence

import numpy as np
from scipy import signal as sps

from lrh_tflm.config import PreprocessConfig
from lrh_tflm.data.record import Record, RecordError
from lrh_tflm.leads import DERIVABLE, derive_limb_leads

#: Largest denominator accepted for the resampling ratio ``fs_in / fs_out``.
MAX_RATIO_DENOMINATOR = 1000
#: Relative error tolerated between ``fs_in / fs_out`` and its rational approximation.
_RATIO_RTOL = 1e-9

#: Length of the demographics vector fed to the models.
DEMOGRAPHICS_SIZE = 5


def bandpass_sos(cfg: PreprocessConfig) -> np.ndarray:
    """Butterworth band-pass ``cfg.band_hz`` at the model rate ``cfg.fs`` as SOS sections.

    Parameters
    ----------
    cfg
        Preprocessing configuration (``band_hz``, ``fs``, ``filter_order``).

    Returns
    -------
    numpy.ndarray
        float64 array of shape ``(filter_order, 6)``: rows ``[b0, b1, b2, 1, a1, a2]``.
        Apply causally, zero initial state (``scipy.signal.sosfilt``); the firmware runs the
        same sections as Direct Form II transposed biquads.

    Raises
    ------
    ValueError
        If the band is not ``0 < low < high < fs / 2``.
    """
    low, high = (float(f) for f in cfg.band_hz)
    return _butter_sos(float(cfg.fs), low, high, int(cfg.filter_order)).copy()


@lru_cache(maxsize=16)
def _butter_sos(fs: float, low: float, high: float, order: int) -> np.ndarray:
    # Designing the filter costs about as much as applying it to a record: do it once
    # (callers get copies from bandpass_sos, so the cached array is never modified).
    nyquist = fs / 2.0
    if not 0.0 < low < high < nyquist:
        raise ValueError(f"band-pass {low}–{high} Hz must satisfy 0 < low < high < fs/2 "
                         f"= {nyquist} Hz")
    sos = np.asarray(sps.butter(order, [low, high], btype="bandpass", fs=fs, output="sos"),
                     dtype=np.float64)
    return sos


def apply_bandpass(x: np.ndarray, sos: np.ndarray, axis: int = -1) -> np.ndarray:
    """Filter ``x`` causally along ``axis`` with zero initial state (what the firmware does)."""
    return sps.sosfilt(sos, x, axis=axis)


def to_canonical(record: Record, leads: Sequence[str]) -> np.ndarray:
    """The record's signal with rows in the order of ``leads``.

    III, aVR, aVL and aVF are derived from I and II when the record lacks them
    (:func:`lrh_tflm.leads.derive_limb_leads`).

    Parameters
    ----------
    record
        The record (``signal`` is leads × samples, mV).
    leads
        Wanted lead names, canonical spelling, in the order the rows should have.

    Returns
    -------
    numpy.ndarray
        float64, ``len(leads)`` × samples.

    Raises
    ------
    RecordError
        If a wanted lead is missing and cannot be derived (e.g. ``"missing leads: V1, V2"``).
    """
    have = {name: i for i, name in enumerate(record.leads)}
    if all(l in have for l in leads):
        return np.asarray(record.signal)[[have[l] for l in leads]].astype(np.float64)
    sig = np.asarray(record.signal, dtype=np.float64)
    derived: dict[str, np.ndarray] = {}
    if any(l in DERIVABLE and l not in have for l in leads) and "I" in have and "II" in have:
        derived = derive_limb_leads(sig[have["I"]], sig[have["II"]])
    missing = [l for l in leads if l not in have and l not in derived]
    if missing:
        raise RecordError(record.name, f"missing leads: {', '.join(missing)}")
    rows = [sig[have[l]] if l in have else derived[l] for l in leads]
    return np.stack(rows, axis=0)


@lru_cache(maxsize=256)
def resample_ratio(fs_in: float, fs_out: float) -> tuple[int, int]:
    """``(up, down)`` with ``fs_out / fs_in == up / down`` exactly (relative error ≤ 1e-9).

    Raises
    ------
    ValueError
        If a rate is not positive or ``fs_in / fs_out`` has no fraction with a denominator
        of at most :data:`MAX_RATIO_DENOMINATOR`.
    """
    fs_in, fs_out = float(fs_in), float(fs_out)
    if not (math.isfinite(fs_in) and math.isfinite(fs_out)) or fs_in <= 0 or fs_out <= 0:
        raise ValueError(f"cannot resample from {fs_in:g} Hz to {fs_out:g} Hz")
    ratio = fs_in / fs_out
    frac = Fraction(ratio).limit_denominator(MAX_RATIO_DENOMINATOR)
    if abs(float(frac) - ratio) > _RATIO_RTOL * ratio:
        raise ValueError(f"the ratio {fs_in:g} Hz / {fs_out:g} Hz is not a fraction with a "
                         f"denominator ≤ {MAX_RATIO_DENOMINATOR}")
    # fs_in / fs_out = num / den, so resampling multiplies by den / num.
    return frac.denominator, frac.numerator


def resample(signal: np.ndarray, fs_in: float, fs_out: float, axis: int = -1) -> np.ndarray:
    """Polyphase resampling of ``signal`` along ``axis`` from ``fs_in`` to ``fs_out`` Hz.

    Uses ``scipy.signal.resample_poly(signal, up, down)`` with the rational ratio from
    :func:`resample_ratio` (its default Kaiser-windowed anti-aliasing FIR).  The output has
    ``ceil(n * up / down)`` samples; equal rates return the input unchanged (as float64).
    """
    up, down = resample_ratio(fs_in, fs_out)
    x = np.asarray(signal, dtype=np.float64)
    if up == down:
        return x
    return sps.resample_poly(x, up, down, axis=axis, window=_resample_fir(up, down))


@lru_cache(maxsize=64)
def _resample_fir(up: int, down: int) -> np.ndarray:
    # scipy's own default anti-aliasing design for resample_poly (Kaiser window, beta 5,
    # half length 10 * max(up, down)), made once per ratio: designing it cost as much as
    # the filtering, for every record.  Passed as ``window=`` it gives the same samples.
    max_rate = max(up, down)
    h = sps.firwin(2 * 10 * max_rate + 1, 1.0 / max_rate, window=("kaiser", 5.0))
    h.setflags(write=False)  # resample_poly copies it before scaling
    return h


def _read_rows(record: Record, leads: Sequence[str]) -> list[int]:
    """Rows of the record's signal that ``leads`` are read from (derived limb leads: I, II)."""
    have = {name: i for i, name in enumerate(record.leads)}
    rows = [have[lead] for lead in leads if lead in have]
    if any(lead not in have and lead in DERIVABLE for lead in leads):
        rows += [have[lead] for lead in ("I", "II") if lead in have]
    return sorted(set(rows))


def flat_leads(record: Record, cfg: PreprocessConfig) -> tuple[list[int], list[int]]:
    """Flat-line rows of the record (std below ``cfg.flat_std_mv``): ``(read, unread)`` — those
    ``cfg.leads`` are read from, and the others."""
    std = np.asarray(record.signal).std(axis=1, dtype=np.float64)
    return _split_flat(std, record, cfg)


def _split_flat(std: np.ndarray, record: Record, cfg: PreprocessConfig
                ) -> tuple[list[int], list[int]]:
    flat = np.flatnonzero(std < cfg.flat_std_mv).tolist()
    used = set(_read_rows(record, cfg.leads))
    return [i for i in flat if i in used], [i for i in flat if i not in used]


def check_record(record: Record, cfg: PreprocessConfig) -> tuple[str, ...]:
    """Raise :class:`RecordError` when the record cannot be preprocessed; else return the
    warnings about it.

    Refused: sampling rate ≤ 0, below ``cfg.min_fs`` or with no rational ratio to ``cfg.fs``
    (see :func:`resample_ratio`); no samples; NaN or infinite samples; shorter than
    ``cfg.min_seconds``; every lead that ``cfg.leads`` are read from a flat line (population
    standard deviation below ``cfg.flat_std_mv``), named in the reason.

    A flat lead among others that are not is a warning, not a lost record (Chapman-Ningbo's
    records with dead V2/V4/V6 electrodes): a lead ``cfg.leads`` does not read is ignored; one
    it reads is kept as zeros (:func:`prepare_signals` zeroes it: a flat line carries no
    signal, and zeros are what the per-window z-score makes of one anyway), so a model
    reading it sees no signal there while the record still serves every other lead.

    Returns
    -------
    tuple of str
        The record's own :attr:`~lrh_tflm.data.record.Record.notes` and the flat-lead warnings.
    """
    return _check(record, cfg)[0]


def checked_record(record: Record, cfg: PreprocessConfig) -> tuple[Record, tuple[str, ...]]:
    """:func:`check_record`, then the record as preprocessing reads it: the flat leads that
    ``cfg.leads`` are read from set to zeros.  Returns ``(record, warnings)``."""
    notes, read = _check(record, cfg)
    if read:
        signal = np.array(record.signal, copy=True)
        signal[read] = 0.0
        record = dataclasses.replace(record, signal=signal)
    return record, notes


def _check(record: Record, cfg: PreprocessConfig) -> tuple[tuple[str, ...], list[int]]:
    """:func:`check_record`'s work: ``(warnings, flat rows that are read)``."""
    name = record.name
    fs = float(record.fs)
    if not math.isfinite(fs) or fs <= 0:
        raise RecordError(name, f"invalid sampling rate {record.fs!r} Hz")
    if fs < cfg.min_fs:
        raise RecordError(name, f"sampling rate {fs:g} Hz is below the minimum {cfg.min_fs:g} Hz")
    try:
        resample_ratio(fs, cfg.fs)
    except ValueError as err:
        raise RecordError(name, f"cannot resample: {err}") from None
    sig = np.asarray(record.signal)
    if sig.ndim != 2 or sig.shape[0] != len(record.leads):
        raise RecordError(name, f"signal shape {sig.shape} does not match {len(record.leads)} leads")
    if sig.shape[1] == 0:
        raise RecordError(name, "no samples")
    finite = np.isfinite(sig)
    if not finite.all():
        bad = [record.leads[i] for i in np.flatnonzero(~finite.all(axis=1))]
        raise RecordError(name, f"NaN or infinite samples in lead(s) {', '.join(bad)}")
    seconds = sig.shape[1] / fs
    if seconds < cfg.min_seconds:
        raise RecordError(name, f"too short: {seconds:.2f} s < {cfg.min_seconds:g} s")
    std = sig.std(axis=1, dtype=np.float64)
    read, unread = _split_flat(std, record, cfg)
    used = _read_rows(record, cfg.leads)
    rule = f"(std < {cfg.flat_std_mv:g} mV)"
    if read and len(read) == len(used):
        names = ", ".join(record.leads[i] for i in read)
        reason = f"flat line in lead(s) {names} {rule}"
        if len(used) > 1:
            reason += ": no lead that is read carries signal"
        if std[used].max() > 0:
            # Every lead moves, just far too little: typically a wrong gain in the header.
            reason += f"; largest lead std {std[used].max():.2g} mV — is the gain in the header right?"
        raise RecordError(name, reason)
    notes = list(record.notes)
    if read:
        notes.append(f"flat line in lead(s) {', '.join(record.leads[i] for i in read)} {rule}: "
                     "kept as zeros (no signal there; the other leads are used)")
    if unread:
        notes.append(f"flat line in lead(s) {', '.join(record.leads[i] for i in unread)} {rule}, "
                     f"which {'are' if len(unread) > 1 else 'is'} not read "
                     f"({', '.join(cfg.leads)}): ignored")
    return tuple(notes), read


def prepare_signal(record: Record, cfg: PreprocessConfig,
                   notes: list[tuple[str, ...]] | None = None) -> np.ndarray:
    """Record-level preprocessing: check → canonical leads → resample → causal band-pass.

    Parameters
    ----------
    record
        The record as read (mV, any rate, any lead subset that contains or derives
        ``cfg.leads``).
    cfg
        Preprocessing configuration.
    notes
        If given, receives the record's warnings (:func:`check_record`) as one tuple.

    Returns
    -------
    numpy.ndarray
        float32, time-major, shape ``(samples at cfg.fs, len(cfg.leads))``, in mV.

    Raises
    ------
    RecordError
        For every problem :func:`check_record` or :func:`to_canonical` finds.
    """
    (result,) = prepare_signals([record], cfg, notes)
    if isinstance(result, RecordError):
        raise result
    return result


#: Samples (leads × time, all records together) resampled and filtered in one call.
_BATCH_SAMPLES = 1 << 21


def prepare_signals(records: Sequence[Record], cfg: PreprocessConfig,
                    notes: list[tuple[str, ...]] | None = None
                    ) -> list[np.ndarray | RecordError]:
    """:func:`prepare_signal` for several records at once, each result or its error in order.

    Records of the same rate and length are resampled and band-passed together, stacked
    lead by lead (up to :data:`_BATCH_SAMPLES` samples per call): every row is filtered on
    its own, so each record's output is the same, bit for bit, as alone — only the
    per-call overhead of scipy, which on 10-s PTB-XL records cost as much as the filtering,
    is shared.

    Parameters
    ----------
    notes
        If given, receives per record the warnings of :func:`check_record` (``()`` for a
        record that failed).

    Returns
    -------
    list
        Per record, the float32 ``(samples at cfg.fs, len(cfg.leads))`` array, or the
        :class:`RecordError` that :func:`prepare_signal` would raise.  Flat leads of a record
        that is kept are zeros.
    """
    out: list[np.ndarray | RecordError | None] = [None] * len(records)
    groups: dict[tuple[float, int], list[tuple[int, np.ndarray]]] = {}
    for i, record in enumerate(records):
        try:
            record, warnings = checked_record(record, cfg)
            x = to_canonical(record, cfg.leads)
        except RecordError as err:
            out[i] = err
            if notes is not None:
                notes.append(())
            continue
        if notes is not None:
            notes.append(warnings)
        groups.setdefault((float(record.fs), x.shape[1]), []).append((i, x))
    sos = bandpass_sos(cfg)
    n_leads = len(cfg.leads)
    for (fs, n), members in groups.items():
        per_call = max(1, _BATCH_SAMPLES // max(1, n_leads * n))
        for start in range(0, len(members), per_call):
            part = members[start:start + per_call]
            stacked = part[0][1] if len(part) == 1 else np.concatenate([x for _, x in part])
            y = apply_bandpass(resample(stacked, fs, cfg.fs, axis=1), sos, axis=1)
            for j, (i, _) in enumerate(part):
                out[i] = np.ascontiguousarray(y[j * n_leads:(j + 1) * n_leads].T, dtype=np.float32)
    return out  # type: ignore[return-value]


def fit_length(x: np.ndarray, length: int) -> tuple[np.ndarray, int]:
    """Centre-crop or zero-pad (at the end) a time-major signal to ``length`` samples.

    Returns
    -------
    (numpy.ndarray, int)
        The fixed-length array ``(length, leads)`` (same dtype) and the number of valid
        (non-padding) samples, ``min(len(x), length)``.  A crop keeps samples
        ``[(n - length) // 2, (n - length) // 2 + length)``.
    """
    n = x.shape[0]
    if n >= length:
        start = (n - length) // 2
        return np.ascontiguousarray(x[start:start + length]), length
    out = np.zeros((length,) + x.shape[1:], dtype=x.dtype)
    out[:n] = x
    return out, n


def normalise_window(w: np.ndarray, cfg: PreprocessConfig) -> np.ndarray:
    """Per-window, per-lead z-score in float32 (``cfg.normalise == "zscore"``).

    For each lead (last axis) over the window's samples (axis −2), all in float32::

        mean = sum(x) / n
        std  = sqrt(sum((x - mean)²) / n)          # population std, ddof = 0
        y    = (x - mean) / (std + cfg.zscore_eps)

    Zero padding inside the window takes part like any other sample.  With
    ``cfg.normalise == "none"`` the window is returned in mV unchanged (as float32).
    Works on ``(window, leads)`` or any batch ``(..., window, leads)``.

    Raises
    ------
    ValueError
        For an unknown ``cfg.normalise`` mode.
    """
    w = np.asarray(w, dtype=np.float32)
    if cfg.normalise == "none":
        return w
    if cfg.normalise != "zscore":
        raise ValueError(f"unknown normalisation {cfg.normalise!r}; use 'zscore' or 'none'")
    mean = w.mean(axis=-2, keepdims=True, dtype=np.float32)
    centred = w - mean
    std = np.sqrt(np.mean(centred * centred, axis=-2, keepdims=True, dtype=np.float32))
    return (centred / (std + np.float32(cfg.zscore_eps))).astype(np.float32)


def sliding_windows(x: np.ndarray, window: int, hop: int) -> np.ndarray:
    """Cut a time-major signal ``(n, leads)`` into windows for inference over a long record.

    Windows start at 0, ``hop``, 2·``hop``, … while ``start + window ≤ n`` (a trailing
    partial window is not used).  A record shorter than one window gives one window,
    zero-padded at the end.

    Returns
    -------
    numpy.ndarray
        ``(n_windows, window, leads)``, same dtype as ``x``.
    """
    if window <= 0 or hop <= 0:
        raise ValueError(f"window ({window}) and hop ({hop}) must be positive")
    n = x.shape[0]
    if n < window:
        return fit_length(x, window)[0][None]
    starts = range(0, n - window + 1, hop)
    return np.stack([x[s:s + window] for s in starts], axis=0)


def demographics_vector(age: float | None, sex: str | None) -> np.ndarray:
    """The paper's 5-value age/sex input.

    ``[age / 100, age_known, male, female, sex_known]``: ``age / 100`` is 0 and
    ``age_known`` is 0 when the age is unknown (``None``, NaN or negative); ``male`` and
    ``female`` are one-hot and ``sex_known`` is 1 for ``"M"``/``"F"`` (any case, also
    ``"male"``/``"female"``), all three 0 otherwise.

    Returns
    -------
    numpy.ndarray
        float32, shape ``(5,)``.
    """
    vec = np.zeros(DEMOGRAPHICS_SIZE, dtype=np.float32)
    if age is not None:
        try:
            a = float(age)
        except (TypeError, ValueError):
            a = float("nan")
        if math.isfinite(a) and a >= 0:
            vec[0] = a / 100.0
            vec[1] = 1.0
    s = (sex or "").strip().lower()
    if s in ("m", "male"):
        vec[2], vec[4] = 1.0, 1.0
    elif s in ("f", "female"):
        vec[3], vec[4] = 1.0, 1.0
    return vec


#: The demographics vector for unknown age and sex (all zeros).
DEMOGRAPHICS_DEFAULT = demographics_vector(None, None)

__all__ = [
    "MAX_RATIO_DENOMINATOR", "DEMOGRAPHICS_SIZE", "DEMOGRAPHICS_DEFAULT",
    "bandpass_sos", "apply_bandpass", "to_canonical", "resample_ratio", "resample",
    "check_record", "checked_record", "flat_leads", "prepare_signal", "fit_length", "normalise_window", "sliding_windows",
    "demographics_vector",
]
