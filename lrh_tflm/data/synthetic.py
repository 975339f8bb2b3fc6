"""The built-in synthetic 12-lead ECG dataset, written in the PhysioNet/CinC 2021 format.

Each beat is a moving 3-D cardiac dipole (a vectorcardiogram): a sum of Gaussian lobes in
time, each lobe with its own direction and amplitude (P, septal, main and terminal
depolarisation, T), in the spirit of the McSharry/Sameni dipole models.  The dipole is
projected onto idealised lead vectors for I, II and V1–V6; the other four limb leads are then
derived from I and II, so Einthoven's and Goldberger's relations hold exactly before int16
rounding.  Class evidence comes from the dipole (a bundle branch block moves the terminal
forces, a T-wave inversion tilts the T vector backwards), so it shows in the leads where it
would in reality — several classes are clearest, or only visible, in the precordial leads.

Coordinates: x to the patient's left, y inferior (towards the feet), z anterior.

Determinism: record ``i`` draws its labels from ``default_rng([seed, i, 0])`` and its signal
from ``default_rng([seed, i, 1])``, so the files are byte-identical for a given
:class:`~lrh_tflm.config.SynthConfig` whatever the number of workers, and labels can be drawn
without synthesising signals (:func:`draw_labels`).

This module never imports TensorFlow.
"""
from __future__ import annotations

import io
import math
import multiprocessing
import os
import shutil
import time
import uuid
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable, Sequence

import numpy as np
import scipy.io
from tqdm import tqdm

from lrh_tflm.config import SynthConfig
from lrh_tflm.data.labels import describe
from lrh_tflm.data.record import DatasetError
from lrh_tflm.io import (
    config_hash,
    read_json,
    write_bytes_atomic,
    write_json_atomic,
    write_text_atomic,
)
from lrh_tflm.leads import LEADS, derive_limb_leads

#: Bumped whenever the generator's output changes, so cached datasets are regenerated.
GENERATOR_VERSION = 1

#: Classes generated, as (SNOMED CT code, abbreviation), codes from the official scored table.
CLASSES: tuple[tuple[str, str], ...] = (
    ("426783006", "NSR"),
    ("426177001", "SB"),
    ("427084000", "STach"),
    ("164889003", "AF"),
    ("270492004", "IAVB"),
    ("59118001", "RBBB"),
    ("164909002", "LBBB"),
    ("427172004", "PVC"),
    ("39732003", "LAD"),
    ("59931005", "TInv"),
)

CODE_BY_ABBR: dict[str, str] = {abbr: code for code, abbr in CLASSES}
ABBR_BY_CODE: dict[str, str] = {code: abbr for code, abbr in CLASSES}

# Label model (probabilities per record).  Exactly one rhythm; at most one bundle branch block;
# the other findings are added independently where physiology allows.
_RHYTHMS: tuple[tuple[str, float], ...] = (("NSR", 0.40), ("SB", 0.20), ("STach", 0.20), ("AF", 0.20))
_P_RBBB = 0.15
_P_LBBB = 0.15
_P_IAVB = 0.20   # sinus rhythms only: AF has no P wave, so no PR interval
_P_LAD = 0.18
_P_PVC = 0.15
_P_TINV = 0.15   # primary T inversion; not labelled with a BBB, whose T changes are secondary

# Idealised lead vectors (x left, y inferior, z anterior) of the independently measured leads.
# Frontal leads are exact unit vectors so the frontal QRS axis read from I and aVF is the
# dipole's; precordial leads sit at the usual horizontal angles from the left lateral direction
# towards anterior.  A pure dipole has no proximity effect, so the electrodes closest to the
# heart get larger gains, and V3–V6 (5th intercostal space, below the heart's electrical centre)
# a small inferior component; together they give the usual R-wave progression.
_PRECORDIAL_DEG = (120.0, 95.0, 75.0, 55.0, 30.0, 5.0)
_PRECORDIAL_GAIN = (1.3, 1.9, 2.0, 1.8, 1.4, 1.1)
_PRECORDIAL_INFERIOR = (0.0, 0.0, 0.15, 0.25, 0.3, 0.3)
_MEASURED = ("I", "II", "V1", "V2", "V3", "V4", "V5", "V6")


def _lead_matrix() -> np.ndarray:
    rows = [(1.0, 0.0, 0.0), (math.cos(math.radians(60)), math.sin(math.radians(60)), 0.0)]
    for deg, gain, inferior in zip(_PRECORDIAL_DEG, _PRECORDIAL_GAIN, _PRECORDIAL_INFERIOR):
        rad = math.radians(deg)
        rows.append((gain * math.cos(rad), gain * inferior, gain * math.sin(rad)))
    return np.array(rows, dtype=np.float64)


LEAD_VECTORS: np.ndarray = _lead_matrix()
"""8 × 3 lead vectors of I, II, V1–V6 (rows) in dipole coordinates (x left, y inferior, z anterior)."""


# ----------------------------------------------------------------------------------------------
# labels


def draw_labels(rng: np.random.Generator) -> tuple[str, ...]:
    """Draw one record's diagnoses from the label model.

    Rhythms (NSR, SB, STach, AF) are mutually exclusive; RBBB and LBBB are exclusive; IAVB needs
    a sinus rhythm (a P wave); TInv is not given together with a bundle branch block.

    Parameters
    ----------
    rng
        Generator used for the label draws only.

    Returns
    -------
    tuple of str
        SNOMED CT codes in :data:`CLASSES` order.
    """
    names, probs = zip(*_RHYTHMS)
    chosen = {names[rng.choice(len(names), p=np.array(probs) / sum(probs))]}
    u = rng.random(5)
    if u[0] < _P_RBBB:
        chosen.add("RBBB")
    elif u[0] < _P_RBBB + _P_LBBB:
        chosen.add("LBBB")
    if "AF" not in chosen and u[1] < _P_IAVB:
        chosen.add("IAVB")
    if u[2] < _P_LAD:
        chosen.add("LAD")
    if u[3] < _P_PVC:
        chosen.add("PVC")
    if not chosen & {"RBBB", "LBBB"} and u[4] < _P_TINV:
        chosen.add("TInv")
    return tuple(code for code, abbr in CLASSES if abbr in chosen)


def label_rng(seed: int, index: int) -> np.random.Generator:
    """The generator of record ``index``'s labels (independent of its signal generator)."""
    return np.random.default_rng([seed, index, 0])


def signal_rng(seed: int, index: int) -> np.random.Generator:
    """The generator of record ``index``'s signal, age and sex."""
    return np.random.default_rng([seed, index, 1])


def record_labels(cfg: SynthConfig, index: int) -> tuple[str, ...]:
    """Labels of record ``index`` of the dataset described by ``cfg``, without its signal."""
    return draw_labels(label_rng(cfg.seed, index))


def record_name(index: int) -> str:
    """File stem of record ``index`` (0-based): ``SYN00001`` for index 0."""
    return f"SYN{index + 1:05d}"


# ----------------------------------------------------------------------------------------------
# signal model


@dataclass(frozen=True)
class Truth:
    """Ground-truth timing of a synthetic record (what the generator was asked to draw).

    Attributes
    ----------
    heart_rate
        Mean rate of the underlying rhythm in beats per minute (before PVCs).
    qrs_onsets
        QRS onset times of every beat inside or around the record, seconds.
    pvc
        Boolean mask over ``qrs_onsets``: premature ventricular beats.
    pr
        PR interval in seconds (P onset to QRS onset); NaN without P waves (AF).
    qrs
        QRS duration of conducted beats in seconds.
    axis_deg
        Frontal-plane direction of the main depolarisation lobe in degrees (0 = lead I,
        +90 = inferior).
    mains_hz
        Frequency of the mains interference (50 or 60 Hz).
    """

    heart_rate: float
    qrs_onsets: np.ndarray
    pvc: np.ndarray
    pr: float
    qrs: float
    axis_deg: float
    mains_hz: float


@dataclass(frozen=True)
class SynthRecord:
    """One synthetic record: 12 × N float32 millivolts in :data:`lrh_tflm.leads.LEADS` order."""

    signal: np.ndarray
    age: int
    sex: str
    labels: tuple[str, ...]
    truth: Truth


def _unit(v) -> np.ndarray:
    v = np.asarray(v, dtype=np.float64)
    return v / np.linalg.norm(v)


def _frontal(deg: float, posterior: float = 0.0) -> np.ndarray:
    """Unit vector with frontal angle ``deg`` and a z component of ``-posterior`` before normalising."""
    rad = math.radians(deg)
    return _unit((math.cos(rad), math.sin(rad), -posterior))


class _Lobes:
    """Lobe table of one beat type: time offset from QRS onset, width, 3-D amplitude, kind."""

    def __init__(self):
        self.offset: list[float] = []
        self.sigma: list[float] = []
        self.vec: list[np.ndarray] = []
        self.kind: list[int] = []  # 0 = P, 1 = QRS, 2 = T (T lobes follow QT, QRS lobes scale)

    def add(self, offset: float, sigma: float, vec: np.ndarray, kind: int) -> None:
        self.offset.append(offset)
        self.sigma.append(sigma)
        self.vec.append(np.asarray(vec, dtype=np.float64))
        self.kind.append(kind)

    def arrays(self):
        return (np.array(self.offset), np.array(self.sigma), np.array(self.vec).reshape(-1, 3),
                np.array(self.kind))


def _rhythm(rng, abbr: set[str], t_end: float):
    """Underlying beat schedule (QRS onsets), mean rate and respiratory parameters."""
    if "AF" in abbr:
        hr = rng.uniform(70.0, 150.0)
    elif "SB" in abbr:
        hr = rng.uniform(40.0, 56.0)
    elif "STach" in abbr:
        hr = rng.uniform(105.0, 150.0)
    else:
        hr = rng.uniform(62.0, 98.0)
    rr0 = 60.0 / hr
    resp_hz = rng.uniform(0.15, 0.35)
    resp_phase = rng.uniform(0, 2 * np.pi)
    m = int(math.ceil((t_end + 3.0) / (0.5 * rr0))) + 2
    if "AF" in abbr:
        # Irregularly irregular: independent intervals from a wide distribution.
        rr = rr0 * rng.lognormal(0.0, rng.uniform(0.18, 0.30), m)
        rr = np.maximum(rr, 0.28)
    else:
        # Respiratory sinus arrhythmia (weaker at high rates) plus correlated jitter.
        rsa = rng.uniform(0.01, 0.05) * min(1.0, 70.0 / hr)
        approx_t = np.arange(m) * rr0
        jitter = rng.normal(0.0, 0.012, m)
        jitter = np.convolve(jitter, np.ones(3) / math.sqrt(3), mode="same")
        rr = rr0 * (1.0 + rsa * np.sin(2 * np.pi * resp_hz * approx_t + resp_phase) + jitter)
    start = -1.5 - rng.uniform(0.0, rr0)
    onsets = start + np.concatenate(([0.0], np.cumsum(rr[:-1])))
    onsets = onsets[onsets < t_end + 1.0]
    return hr, onsets, resp_hz, resp_phase


def _insert_pvcs(rng, onsets: np.ndarray, t_end: float):
    """Replace the sinus beat after each chosen beat by a premature one (full compensatory pause)."""
    candidates = np.flatnonzero((onsets > 0.3) & (onsets < t_end - 1.6))
    n_pvc = int(rng.integers(1, 4))
    chosen: list[int] = []
    for k in rng.permutation(candidates):
        if len(chosen) == n_pvc:
            break
        if all(abs(k - c) >= 3 for c in chosen) and k + 1 < len(onsets):
            chosen.append(int(k))
    if not chosen:  # very short records: force one premature beat
        chosen = [int(candidates[0]) if len(candidates) else 0]
    keep = np.ones(len(onsets), dtype=bool)
    pvc_times = []
    for k in chosen:
        rr = onsets[k + 1] - onsets[k]
        pvc_times.append(onsets[k] + rng.uniform(0.45, 0.65) * rr)
        keep[k + 1] = False  # the next sinus beat is blocked, the one after comes on time
    return onsets[keep], np.array(pvc_times)


def _sinus_lobes(rng, abbr: set[str]):
    """Lobe table of a conducted beat, plus its PR, QRS duration, frontal axis and QT scale."""
    lobes = _Lobes()
    axis = rng.uniform(-75.0, -35.0) if "LAD" in abbr else rng.uniform(-15.0, 85.0)
    amp = rng.uniform(1.0, 1.8)
    posterior = rng.uniform(0.15, 0.35)
    pr = float("nan")
    if "AF" not in abbr:
        pr = rng.uniform(0.22, 0.34) if "IAVB" in abbr else rng.uniform(0.12, 0.19)
        pa = rng.uniform(0.08, 0.22)
        p_axis = rng.uniform(30.0, 70.0)
        # Right atrium first (anterior), left atrium later (posterior): biphasic P in V1.
        lobes.add(-pr + 0.040, 0.017, pa * _unit((math.cos(math.radians(p_axis)) * 0.5,
                                                  math.sin(math.radians(p_axis)), 0.55)), 0)
        lobes.add(-pr + 0.075, 0.019, pa * _unit((math.cos(math.radians(p_axis)),
                                                  math.sin(math.radians(p_axis)) * 0.6, -0.45)), 0)
    d0 = rng.uniform(0.08, 0.10)  # duration of normal (fascicular) ventricular activation
    if "LBBB" in abbr:
        qrs = rng.uniform(0.13, 0.17)
        amp *= 1.2
        # Septum activated left-to-right: no septal q in I/V6, no initial r in V1.
        lobes.add(0.12 * qrs, 0.06 * qrs, 0.15 * _unit((0.8, 0.1, -0.3)), 1)
        # Slow, notched LV activation: two leftward-posterior lobes 2.8 sigma apart.
        lobes.add(0.36 * qrs, 0.12 * qrs, 0.85 * amp * _frontal(axis * 0.6, 0.55), 1)
        lobes.add(0.70 * qrs, 0.12 * qrs, 0.90 * amp * _frontal(axis * 0.6 - 10.0, 0.75), 1)
        t_vec = rng.uniform(0.3, 0.6) * _unit((-0.6, 0.2, 0.6))  # discordant T
    else:
        qrs = rng.uniform(0.125, 0.16) if "RBBB" in abbr else d0
        sept = rng.uniform(0.10, 0.20)
        lobes.add(0.15 * d0, 0.08 * d0, sept * _unit((-0.5, 0.3, 0.8)), 1)
        lobes.add(0.48 * d0, 0.15 * d0, amp * _frontal(axis, posterior), 1)
        lobes.add(0.82 * d0, 0.09 * d0, rng.uniform(0.1, 0.3) * _unit((-0.3, -0.6, -0.75)), 1)
        if "RBBB" in abbr:
            # Late, slow right-ventricular activation: rightward-anterior terminal forces give
            # R' in V1 and a wide S in I and V6.
            sigma = rng.uniform(0.016, 0.022)
            lobes.add(qrs - 2.2 * sigma, sigma, rng.uniform(0.5, 0.9) * _unit((-0.65, 0.1, 0.75)), 1)
            t_vec = rng.uniform(0.2, 0.4) * _unit((0.6, 0.5, -rng.uniform(0.3, 0.6)))
        else:
            t_axis = rng.uniform(20.0, 70.0) if "LAD" not in abbr else rng.uniform(0.0, 50.0)
            rad = math.radians(t_axis)
            if "TInv" in abbr:
                # T vector tilted backwards: inverted T in V1–V4, frontal leads barely change.
                frontal, z = rng.uniform(0.6, 0.9), -rng.uniform(0.6, 0.9)
            else:
                frontal, z = rng.uniform(0.8, 1.0), rng.uniform(0.2, 0.45)
            t_vec = rng.uniform(0.25, 0.5) * np.array((frontal * math.cos(rad), frontal * math.sin(rad), z))
    qtc = rng.uniform(0.38, 0.44) + max(0.0, qrs - 0.10)
    # T lobe offsets are written for RR = 1 s and shifted per beat by the QT change.
    t_peak = qtc - 0.08
    lobes.add(t_peak - 0.045, 0.050, 0.40 * t_vec, 2)
    lobes.add(t_peak, 0.035, 0.80 * t_vec, 2)
    return lobes.arrays(), pr, qrs, axis, qtc


def _pvc_lobes(rng):
    """Lobe table of the record's ectopic ventricular focus: wide, no P, discordant T."""
    lobes = _Lobes()
    qrs = rng.uniform(0.13, 0.17)
    focus = _unit(rng.normal(size=3))
    amp = rng.uniform(1.2, 2.2)
    second = _unit(focus + 0.5 * _unit(rng.normal(size=3)))
    lobes.add(0.35 * qrs, 0.16 * qrs, amp * focus, 1)
    lobes.add(0.70 * qrs, 0.14 * qrs, 0.6 * amp * second, 1)
    t_vec = -rng.uniform(0.3, 0.6) * focus
    lobes.add(0.26, 0.05, 0.45 * t_vec, 2)
    lobes.add(0.31, 0.04, 0.80 * t_vec, 2)
    return lobes.arrays()


def _render(centers, sigmas, vecs, fs: float, n: int) -> np.ndarray:
    """Sum Gaussian lobes (seconds) into a 3 × n dipole, each evaluated on a ±4σ window only."""
    pos = np.rint(centers * fs).astype(np.int64)
    half = int(math.ceil(4.0 * float(sigmas.max()) * fs))
    idx = pos[:, None] + np.arange(-half, half + 1)[None, :]
    g = np.exp(-0.5 * ((idx / fs - centers[:, None]) / sigmas[:, None]) ** 2)
    inside = (idx >= 0) & (idx < n)
    idx_in = idx[inside]
    g_in = g[inside]
    rows = np.broadcast_to(np.arange(len(centers))[:, None], idx.shape)[inside]
    return np.stack([np.bincount(idx_in, weights=g_in * vecs[rows, a], minlength=n)
                     for a in range(3)])


def _f_waves(rng, t: np.ndarray) -> np.ndarray:
    """Atrial fibrillatory waves (4–9 Hz, wandering frequency and amplitude) along an atrial axis."""
    f0 = rng.uniform(4.0, 9.0)
    wander = np.cumsum(rng.normal(0.0, 1.0, t.size)) / math.sqrt(t.size)
    phase = 2 * np.pi * (f0 * t + 0.3 * wander) + rng.uniform(0, 2 * np.pi)
    amp = rng.uniform(0.03, 0.10) * (1.0 + 0.4 * np.sin(2 * np.pi * rng.uniform(0.1, 0.5) * t
                                                         + rng.uniform(0, 2 * np.pi)))
    wave = amp * (np.sin(phase) + 0.3 * np.sin(2 * phase + 1.0))
    return _unit((-0.2, 0.6, 0.75))[:, None] * wave[None, :]


def _noise(rng, t: np.ndarray, resp_hz: float, resp_phase: float, mains_hz: float) -> np.ndarray:
    """Noise of the eight measured leads: baseline wander, mains, EMG and electrode motion."""
    n_ch, n = len(_MEASURED), t.size
    out = np.zeros((n_ch, n))
    # Baseline wander (< 0.5 Hz), with a component locked to respiration.
    bw = rng.uniform(0.02, 0.25)
    freqs = rng.uniform(0.05, 0.5, (n_ch, 3))
    phases = rng.uniform(0, 2 * np.pi, (n_ch, 3))
    amps = bw * rng.uniform(0.2, 1.0, (n_ch, 3)) / 2
    out += np.einsum("ck,ckn->cn", amps, np.sin(2 * np.pi * freqs[..., None] * t + phases[..., None]))
    out += (bw * rng.uniform(0.0, 0.6, n_ch))[:, None] * np.sin(2 * np.pi * resp_hz * t + resp_phase)
    # Mains interference: one frequency per record, per-lead amplitude and phase.
    mains = rng.uniform(0.0, 0.04) * rng.uniform(0.3, 1.0, n_ch)
    out += mains[:, None] * np.sin(2 * np.pi * mains_hz * t + rng.uniform(0, 2 * np.pi, n_ch)[:, None])
    # Muscle (EMG): broadband noise with an occasional burst envelope.
    emg = rng.uniform(0.003, 0.03) * rng.uniform(0.5, 1.0, n_ch)
    envelope = np.ones(n)
    if rng.random() < 0.3:
        centre, width = rng.uniform(t[0], t[-1]), rng.uniform(0.3, 1.5)
        envelope += rng.uniform(1.0, 4.0) * np.exp(-0.5 * ((t - centre) / width) ** 2)
    out += emg[:, None] * envelope * rng.standard_normal((n_ch, n))
    # Electrode motion: occasional transients on a few leads.
    if rng.random() < 0.25:
        for _ in range(int(rng.integers(1, 3))):
            t0, tau = rng.uniform(t[0], t[-1]), rng.uniform(0.05, 0.3)
            u = np.clip((t - t0) / tau, 0.0, None)
            shape = u * np.exp(1.0 - u)
            leads = rng.choice(n_ch, size=int(rng.integers(1, 4)), replace=False)
            out[leads] += rng.uniform(0.2, 1.0, leads.size)[:, None] * rng.choice([-1, 1]) * shape
    return out


def simulate(rng: np.random.Generator, labels: Iterable[str], cfg: SynthConfig) -> SynthRecord:
    """Synthesise one record with the given diagnoses.

    Parameters
    ----------
    rng
        Generator for everything random in the signal (use :func:`signal_rng` for dataset records).
    labels
        SNOMED CT codes from :data:`CLASSES` (e.g. from :func:`draw_labels`); exactly one rhythm
        code (NSR, SB, STach or AF) is expected; without one the record is sinus rhythm.
    cfg
        Sampling rate and duration.

    Returns
    -------
    SynthRecord
        The 12-lead signal in millivolts (float32, canonical lead order), age, sex, the labels
        and the generator's ground-truth timing.

    Raises
    ------
    ValueError
        On a code that is not one of :data:`CLASSES`.
    """
    labels = tuple(labels)
    unknown = [c for c in labels if c not in ABBR_BY_CODE]
    if unknown:
        raise ValueError(f"unknown synthetic class code(s) {unknown}; known: "
                         f"{', '.join(f'{c} ({a})' for c, a in CLASSES)}")
    abbr = {ABBR_BY_CODE[c] for c in labels}
    fs = float(cfg.fs)
    n = int(round(cfg.seconds * cfg.fs))
    t = np.arange(n) / fs
    t_end = n / fs

    hr, onsets, resp_hz, resp_phase = _rhythm(rng, abbr, t_end)
    pvc_times = np.zeros(0)
    if "PVC" in abbr:
        onsets, pvc_times = _insert_pvcs(rng, onsets, t_end)
    (off, sig, vec, kind), pr, qrs, axis, qtc = _sinus_lobes(rng, abbr)

    # Per-beat variation: QT follows the preceding RR (Bazett-like), QRS amplitude follows
    # respiration and a small random term.
    rr_prev = np.diff(onsets, prepend=onsets[0] - 60.0 / hr)
    qt_shift = qtc * (np.sqrt(np.clip(rr_prev, 0.3, 2.0)) - 1.0)
    scale = (1.0 + rng.uniform(0.03, 0.10) * np.sin(2 * np.pi * resp_hz * onsets + resp_phase)
             + rng.normal(0.0, 0.03, onsets.size))
    beat_off = off[None, :] + np.where(kind == 2, 1.0, 0.0)[None, :] * qt_shift[:, None]
    beat_scale = np.where(kind[None, :] == 0, 1.0, scale[:, None])
    centers = [(onsets[:, None] + beat_off).ravel()]
    sigmas = [np.broadcast_to(sig, beat_off.shape).ravel()]
    vecs = [(beat_scale[..., None] * vec[None, :, :]).reshape(-1, 3)]
    if pvc_times.size:
        p_off, p_sig, p_vec, _ = _pvc_lobes(rng)
        centers.append((pvc_times[:, None] + p_off[None, :]).ravel())
        sigmas.append(np.broadcast_to(p_sig, (pvc_times.size, p_sig.size)).ravel())
        vecs.append(np.broadcast_to(p_vec, (pvc_times.size,) + p_vec.shape).reshape(-1, 3))
    dipole = _render(np.concatenate(centers), np.concatenate(sigmas), np.concatenate(vecs), fs, n)
    if "AF" in abbr:
        dipole += _f_waves(rng, t)

    mains_hz = float(rng.choice([50.0, 60.0]))
    measured = LEAD_VECTORS @ dipole + _noise(rng, t, resp_hz, resp_phase, mains_hz)
    # Only I and II are "measured" among the limb leads, so the derived four obey
    # Einthoven/Goldberger exactly, noise included.
    limb = derive_limb_leads(measured[0], measured[1])
    signal = np.empty((len(LEADS), n), dtype=np.float32)
    by_name = dict(zip(_MEASURED, measured))
    by_name.update(limb)
    for j, name in enumerate(LEADS):
        signal[j] = by_name[name]

    older = abbr & {"AF", "LBBB", "IAVB"}
    age = int(np.clip(round(rng.normal(68.0 if older else 55.0, 14.0)), 18, 95))
    sex = "Male" if rng.random() < 0.52 else "Female"
    all_onsets = np.concatenate([onsets, pvc_times])
    order = np.argsort(all_onsets, kind="stable")
    truth = Truth(heart_rate=float(hr), qrs_onsets=all_onsets[order],
                  pvc=np.concatenate([np.zeros(onsets.size, bool), np.ones(pvc_times.size, bool)])[order],
                  pr=float(pr), qrs=float(qrs), axis_deg=float(axis), mains_hz=mains_hz)
    return SynthRecord(signal=signal, age=age, sex=sex, labels=labels, truth=truth)


def generate_record(rng: np.random.Generator, labels: Iterable[str],
                    cfg: SynthConfig) -> tuple[np.ndarray, int, str]:
    """Synthesise one record: ``(signal_mV, age, sex)``.

    ``signal_mV`` is float32, 12 × ``cfg.fs * cfg.seconds``, leads in
    :data:`lrh_tflm.leads.LEADS` order.  See :func:`simulate` for the parameters and for the
    generator's ground truth.
    """
    rec = simulate(rng, labels, cfg)
    return rec.signal, rec.age, rec.sex


# ----------------------------------------------------------------------------------------------
# Challenge-format files


def to_int16(signal_mv: np.ndarray, gain: float) -> np.ndarray:
    """Millivolts → int16 ADC counts at ``gain`` counts/mV (rounded, clipped to the int16 range)."""
    return np.clip(np.rint(np.asarray(signal_mv, np.float64) * gain), -32768, 32767).astype(np.int16)


def wfdb_checksum(counts: np.ndarray) -> np.ndarray:
    """WFDB per-lead checksum: sum of samples modulo 65536, as a signed 16-bit number."""
    s = np.asarray(counts, dtype=np.int64).sum(axis=-1)
    return (s + 32768) % 65536 - 32768


def _gain_text(gain: float) -> str:
    return str(int(gain)) if float(gain).is_integer() else repr(float(gain))


def header_text(name: str, counts: np.ndarray, fs: int, gain: float, age: int, sex: str,
                labels: Sequence[str]) -> str:
    """The Challenge-2021-style ``.hea`` text for one record (int16 counts, leads × samples)."""
    lines = [f"{name} {counts.shape[0]} {fs} {counts.shape[1]}"]
    checks = wfdb_checksum(counts)
    for j, lead in enumerate(LEADS):
        lines.append(f"{name}.mat 16+24 {_gain_text(gain)}/mV 16 0 {int(counts[j, 0])} "
                     f"{int(checks[j])} 0 {lead}")
    lines += [f"# Age: {age}", f"# Sex: {sex}", f"# Dx: {','.join(labels)}",
              "# Rx: Unknown", "# Hx: Unknown", "# Sx: Unknown"]
    return "\n".join(lines) + "\n"


def mat_bytes(counts: np.ndarray) -> bytes:
    """MATLAB v4 file content with the variable ``val`` (int16, leads × samples)."""
    buf = io.BytesIO()
    scipy.io.savemat(buf, {"val": np.ascontiguousarray(counts, dtype=np.int16)}, format="4")
    return buf.getvalue()


def _write_one(out: Path, cfg: SynthConfig, index: int):
    labels = record_labels(cfg, index)
    rec = simulate(signal_rng(cfg.seed, index), labels, cfg)
    counts = to_int16(rec.signal, cfg.gain)
    name = record_name(index)
    write_bytes_atomic(out / f"{name}.mat", mat_bytes(counts))
    write_text_atomic(out / f"{name}.hea",
                      header_text(name, counts, cfg.fs, cfg.gain, rec.age, rec.sex, labels))
    return index, name, labels, rec.age, rec.sex


def _write_chunk(args):
    out, cfg, indices = args
    return [_write_one(Path(out), cfg, i) for i in indices]


def _class_table(label_sets: Sequence[tuple[str, ...]]) -> list[dict]:
    n = max(len(label_sets), 1)
    counts = Counter(code for labels in label_sets for code in labels)
    return [{"code": code, "abbr": abbr, "name": describe(code), "count": counts.get(code, 0),
             "percent": round(100.0 * counts.get(code, 0) / n, 1)} for code, abbr in CLASSES]


def _combinations(label_sets: Sequence[tuple[str, ...]]) -> list[dict]:
    combos = Counter("+".join(ABBR_BY_CODE[c] for c in labels) for labels in label_sets)
    return [{"labels": k, "count": v} for k, v in sorted(combos.items(), key=lambda kv: (-kv[1], kv[0]))]


def _datasheet(cfg: SynthConfig, classes: list[dict], combos: list[dict]) -> str:
    n = cfg.records
    rows = "\n".join(f"| {c['abbr']} | {c['code']} | {c['name']} | {c['count']} | {c['percent']:.1f} |"
                     for c in classes)
    combo_rows = "\n".join(f"| {c['labels']} | {c['count']} | {100.0 * c['count'] / max(n, 1):.1f} |"
                           for c in combos)
    rhythms = ", ".join(f"{name} {p:.0%}" for name, p in _RHYTHMS)
    return f"""# Synthetic 12-lead ECG dataset (lrh-tflm built-in)

**What it is:** {n} synthetic 12-lead ECG records in the PhysioNet/CinC Challenge 2021 format
(`NAME.hea` + MATLAB v4 `NAME.mat`, variable `val`, int16, {_gain_text(cfg.gain)} counts/mV),
{cfg.fs} Hz, {cfg.seconds:g} s, leads {', '.join(LEADS)}, generated by `lrh_tflm.data.synthetic`
(generator version {GENERATOR_VERSION}) with seed {cfg.seed}. Same configuration → byte-identical files.

**What it is for:** demonstrating and testing the pipeline end to end (reading, preprocessing,
teacher training, multi-level distillation to a 2-lead student, int8 export) without a download.

**What it is not:** clinical evidence. The morphologies are physiologically motivated but drawn
from a simple parametric model; scores on this set say nothing about performance on real ECGs.
Do not use it to claim diagnostic accuracy.

## Classes

Labels are the official SNOMED CT codes of the Challenge's scored classes (`# Dx:` header line).

| class | SNOMED CT | description | records | % |
|---|---|---|---:|---:|
{rows}

Label model: exactly one rhythm ({rhythms}); RBBB ({_P_RBBB:.0%}) or LBBB
({_P_LBBB:.0%}), mutually exclusive; IAVB ({_P_IAVB:.0%} of sinus records; never with AF, which has
no P wave); LAD ({_P_LAD:.0%}); PVC ({_P_PVC:.0%}); TInv ({_P_TINV:.0%} of records without a bundle
branch block, whose T changes are secondary). Age ~ N(55, 14) years (N(68, 14) with AF, LBBB or IAVB), clipped to 18–95; 52 % male.

## Label combinations

| combination | records | % |
|---|---:|---:|
{combo_rows}

## Generation method

Each beat is a moving 3-D cardiac dipole (x left, y inferior, z anterior): a sum of Gaussian
lobes in time, each with its own direction and amplitude, in the spirit of the McSharry/Sameni
dipole models — biphasic P (right then left atrium), septal, main and terminal depolarisation,
and a two-lobe asymmetric T. The dipole is projected onto idealised lead vectors for I
(0°), II (+60°) and V1–V6 (horizontal plane at 120°, 95°, 75°, 55°, 30°, 5° from left lateral
towards anterior, gains 1.1–2.0, largest for the electrodes nearest the heart, and a small
inferior component for V3–V6, since a pure dipole has no proximity effect). III, aVR, aVL and aVF are
derived from I and II after the noise is added, so Einthoven's and Goldberger's relations hold
exactly up to int16 rounding (±1 count).

Class evidence comes from the dipole, so it appears in the leads where it would in reality:

- **NSR / SB / STach:** sinus rates 62–98, 40–56 and 105–150 bpm; respiratory sinus arrhythmia
  and correlated beat-to-beat jitter; QT follows the preceding RR.
- **AF:** no P waves; RR intervals independently log-normal (σ 0.18–0.30), 70–150 bpm;
  fibrillatory waves at 4–9 Hz with wandering frequency and amplitude (0.03–0.10 mV) along a
  rightward-inferior-anterior atrial axis — largest in V1, visible in II.
- **IAVB:** PR 220–340 ms (otherwise 120–190 ms).
- **RBBB:** QRS 125–160 ms; a late, slow rightward-anterior lobe → rSR′ in V1, wide S in I and
  V6; secondary T inversion in the right precordial leads.
- **LBBB:** QRS 130–170 ms; septal forces reversed (no q in I/V6, no r in V1); two
  leftward-posterior lobes 2.8σ apart → broad notched R in I, aVL, V5–V6 and QS/rS in V1;
  discordant T.
- **PVC:** 1–3 premature (45–65 % of the RR), wide (130–170 ms) beats from a record-specific
  random ventricular focus, no P, discordant T; the next sinus beat is blocked (full
  compensatory pause).
- **LAD:** main QRS lobe at −75° to −35° in the frontal plane (otherwise −15° to +85°), visible as
  positive I and negative aVF/II.
- **TInv:** T vector tilted backwards → inverted T in V1–V4 while T in I and II barely changes
  (precordial-only evidence).

Several classes are therefore clearest (RBBB vs LBBB in V1, AF f-waves in V1) or only visible
(TInv) in the precordial leads, while rates, rhythm, PR, QRS width and axis remain visible in
leads I and II. This is a design choice from physiology, not tuned to any training result.

## Noise

Per measured lead (I, II, V1–V6), with random per-record levels: baseline wander (three
sinusoids at 0.05–0.5 Hz plus a respiration-locked component, up to ≈0.25 mV); 50/60 Hz mains
(one frequency per record, up to 0.04 mV); broadband muscle (EMG) noise (0.003–0.03 mV RMS, with
an occasional burst); electrode-motion transients (25 % of records, 0.2–1 mV on 1–3 leads).
QRS amplitude varies with respiration (3–10 %) and randomly (3 %).

## Files

`RECORDS` lists the record names; `DATASET.json` holds the configuration and the counts above
and is written last (a folder without it is incomplete).
"""


def _clear_previous(out: Path) -> None:
    """Remove the records of an earlier synthetic dataset in ``out`` (never anything else)."""
    meta, records = out / "DATASET.json", out / "RECORDS"
    if not out.exists() or not any(out.iterdir()):
        return
    if not meta.exists():
        raise DatasetError(f"{out} is not empty and holds no synthetic dataset (no DATASET.json); "
                           f"choose an empty or new folder")
    names = records.read_text().split() if records.exists() else []
    meta.unlink()
    for name in names:
        for suffix in (".hea", ".mat"):
            (out / f"{name}{suffix}").unlink(missing_ok=True)


def write_dataset(out: Path, cfg: SynthConfig, progress: bool = True,
                  workers: int | None = None) -> dict:
    """Generate the synthetic dataset into ``out`` in the Challenge 2021 format.

    Parameters
    ----------
    out
        Target folder; created if missing. It must be empty or hold an earlier synthetic
        dataset (whose records are replaced).
    cfg
        Number of records, seed, sampling rate, duration and gain.
    progress
        Show a tqdm progress bar.
    workers
        Processes to use (``None``: ``os.cpu_count()``, fewer for small sets, where starting
        processes costs more than it saves); the files do not depend on it.

    Returns
    -------
    dict
        Summary: ``records``, ``seed``, ``fs``, ``seconds``, ``classes`` (code, abbr, name, count,
        percent), ``combinations``, ``elapsed_s``, ``records_per_s``, ``workers``, ``out``.

    Raises
    ------
    DatasetError
        If ``out`` holds other files, or the configuration asks for no records.
    """

    out = Path(out)
    if cfg.records < 1:
        raise DatasetError(f"synthetic dataset needs at least one record (records={cfg.records})")
    if cfg.fs <= 0 or cfg.seconds <= 0:
        raise DatasetError(f"synthetic dataset needs fs > 0 and seconds > 0 (fs={cfg.fs}, "
                           f"seconds={cfg.seconds})")
    if cfg.seconds < 3.0:
        raise DatasetError(f"synthetic records must last at least 3 s (seconds={cfg.seconds})")
    _clear_previous(out)
    out.mkdir(parents=True, exist_ok=True)
    if workers is None:
        # Starting a spawned worker costs about a second: not worth it for small sets.
        workers = min(os.cpu_count() or 1, max(1, cfg.records // 100))
    workers = max(1, int(workers))
    chunk = 16
    chunks = [list(range(s, min(s + chunk, cfg.records))) for s in range(0, cfg.records, chunk)]
    workers = min(workers, len(chunks))
    start = time.perf_counter()
    rows = []
    with tqdm(total=cfg.records, disable=not progress, desc="synthesising", unit="rec") as bar:
        if workers == 1:
            for idx in chunks:
                rows.extend(_write_chunk((str(out), cfg, idx)))
                bar.update(len(idx))
        else:
            # spawn, not fork: the caller may already hold TensorFlow threads.
            ctx = multiprocessing.get_context("spawn")
            with ctx.Pool(workers) as pool:
                for done in pool.imap_unordered(_write_chunk, [(str(out), cfg, idx) for idx in chunks]):
                    rows.extend(done)
                    bar.update(len(done))
    elapsed = time.perf_counter() - start
    rows.sort()
    label_sets = [r[2] for r in rows]
    classes = _class_table(label_sets)
    combos = _combinations(label_sets)
    write_text_atomic(out / "RECORDS", "".join(f"{r[1]}\n" for r in rows))
    write_text_atomic(out / "DATASET.md", _datasheet(cfg, classes, combos))
    meta = {"generator_version": GENERATOR_VERSION, "config": cfg, "records": cfg.records,
            "leads": list(LEADS), "classes": classes, "combinations": combos}
    write_json_atomic(out / "DATASET.json", meta)  # last: marks the folder complete
    return {"records": cfg.records, "seed": cfg.seed, "fs": cfg.fs, "seconds": cfg.seconds,
            "classes": classes, "combinations": combos, "elapsed_s": elapsed,
            "records_per_s": cfg.records / elapsed if elapsed > 0 else float("inf"),
            "workers": workers, "out": str(out)}


def dataset_dir(cache_dir: Path, cfg: SynthConfig) -> Path:
    """Folder of the cached dataset for ``cfg`` (the hash covers the generator version too)."""
    key = config_hash({"synth": cfg, "generator_version": GENERATOR_VERSION})
    return Path(cache_dir) / f"synthetic-{key}"


def is_complete(folder: Path) -> bool:
    """Whether ``folder`` holds a finished synthetic dataset (its ``DATASET.json`` is readable)."""
    meta = Path(folder) / "DATASET.json"
    if not meta.is_file():
        return False
    try:
        return "records" in read_json(meta)
    except (OSError, ValueError):
        return False


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _remove_stale_temps(target: Path) -> None:
    """Delete temp folders of killed generations of ``target`` (their process no longer runs)."""
    for tmp in target.parent.glob(f".{target.name}.tmp-*"):
        try:
            pid = int(tmp.name.rsplit("-", 2)[-2])
        except (ValueError, IndexError):
            continue
        if not _pid_alive(pid):
            shutil.rmtree(tmp, ignore_errors=True)


def ensure_dataset(cache_dir: Path, cfg: SynthConfig, progress: bool = True,
                   workers: int | None = None) -> Path:
    """Return the cached synthetic dataset for ``cfg``, generating it once if needed.

    Generation goes into a hidden temporary folder next to the target and is renamed into
    place only when complete, so a killed run never leaves a folder that looks finished.
    Temporary folders of dead processes are cleaned up on the next call.

    Parameters
    ----------
    cache_dir
        Parent folder of the cache; the dataset lives in :func:`dataset_dir`.
    cfg
        Dataset configuration.
    progress
        Show a progress bar while generating.
    workers
        Processes to use when generating (``None``: all cores).

    Returns
    -------
    Path
        The dataset folder.
    """
    target = dataset_dir(cache_dir, cfg)
    if is_complete(target):
        return target
    if target.exists():
        raise DatasetError(f"{target} exists but is not a complete synthetic dataset; delete it "
                           f"and run again")
    target.parent.mkdir(parents=True, exist_ok=True)
    _remove_stale_temps(target)
    tmp = target.parent / f".{target.name}.tmp-{os.getpid()}-{uuid.uuid4().hex[:8]}"
    try:
        write_dataset(tmp, cfg, progress=progress, workers=workers)
        try:
            os.rename(tmp, target)
        except OSError:
            if not is_complete(target):  # not a concurrent generator winning the race
                raise
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)
    return target


__all__ = [
    "CLASSES", "CODE_BY_ABBR", "ABBR_BY_CODE", "GENERATOR_VERSION", "LEAD_VECTORS", "Truth",
    "SynthRecord", "draw_labels", "label_rng", "signal_rng", "record_labels", "record_name",
    "simulate", "generate_record", "to_int16", "wfdb_checksum", "header_text", "mat_bytes",
    "write_dataset", "dataset_dir", "is_complete", "ensure_dataset",
]
