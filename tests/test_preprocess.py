"""Record-level preprocessing: filter, resampling, leads, checks, windows, quantisation."""
from pathlib import Path

import numpy as np
import pytest
from scipy import signal as sps

from lrh_tflm.config import PreprocessConfig, replace
from lrh_tflm.data import preprocess as pp
from lrh_tflm.data.record import Record, RecordError
from lrh_tflm.leads import LEADS

CFG = PreprocessConfig(fs=125.0, window=256, cache_len=500)


def make_record(name="R1", fs=500.0, seconds=4.0, leads=LEADS, seed=0, **kw):
    rng = np.random.default_rng(seed)
    n = int(round(fs * seconds))
    t = np.arange(n) / fs
    sig = np.stack([np.sin(2 * np.pi * (1 + i) * t) + 0.1 * rng.standard_normal(n)
                    for i in range(len(leads))]).astype(np.float32)
    base = dict(name=name, signal=sig, fs=fs, leads=tuple(leads), labels=("426783006",),
                age=50.0, sex="M", path=Path(f"/x/{name}.hea"))
    base.update(kw)
    return Record(**base)


def test_bandpass_passband_unity_and_dc_blocked():
    sos = pp.bandpass_sos(CFG)
    assert sos.dtype == np.float64 and sos.shape == (CFG.filter_order, 6)
    w, h = sps.sosfreqz(sos, worN=[0.0, 5.0, 10.0, 100.0 / 2 * 0.99], fs=CFG.fs)
    gain = np.abs(h)
    assert gain[0] < 1e-9                     # DC blocked
    assert abs(gain[1] - 1) < 0.05 and abs(gain[2] - 1) < 0.05   # passband ≈ 1
    assert gain[3] < 0.5                      # near Nyquist attenuated


def test_bandpass_rejects_band_above_nyquist():
    with pytest.raises(ValueError, match="fs/2"):
        pp.bandpass_sos(replace(CFG, fs=50.0))


def test_prepare_signal_is_causal_sosfilt_of_resampled_canonical():
    rec = make_record(fs=250.0)
    out = pp.prepare_signal(rec, CFG)
    assert out.dtype == np.float32 and out.shape == (500, 12)
    x = sps.resample_poly(rec.signal.astype(np.float64), 1, 2, axis=1)
    ref = sps.sosfilt(pp.bandpass_sos(CFG), x, axis=1).T
    np.testing.assert_allclose(out, ref, rtol=1e-5, atol=1e-5)
    # Causality: changing the future does not change the past.
    sig2 = rec.signal.copy()
    sig2[:, 600:] += 5.0
    out2 = pp.prepare_signal(replace(rec, signal=sig2), CFG)
    np.testing.assert_array_equal(out[:200], out2[:200])
    assert not np.allclose(out[400:], out2[400:])


@pytest.mark.parametrize("fs_in, fs_out, up, down", [
    (500, 257, 257, 500), (1000, 125, 1, 8), (500, 125, 1, 4), (257, 257, 1, 1),
    (1000, 257, 257, 1000), (100, 125, 5, 4)])
def test_resample_ratio(fs_in, fs_out, up, down):
    assert pp.resample_ratio(fs_in, fs_out) == (up, down)


def test_resample_lengths_and_tone_preserved():
    fs_in, fs_out = 500.0, 257.0
    t = np.arange(5000) / fs_in
    x = np.sin(2 * np.pi * 5 * t)
    y = pp.resample(x, fs_in, fs_out)
    assert y.shape == (int(np.ceil(5000 * 257 / 500)),)
    t2 = np.arange(y.shape[0]) / fs_out
    mid = slice(200, -200)
    np.testing.assert_allclose(y[mid], np.sin(2 * np.pi * 5 * t2)[mid], atol=0.01)
    y2 = pp.resample(np.ones((2, 115200)), 1000, 125, axis=1)
    assert y2.shape == (2, 14400)


def test_resample_ratio_unexpressible():
    with pytest.raises(ValueError, match="denominator"):
        pp.resample_ratio(500.0, 125.0 * np.pi)
    with pytest.raises(ValueError):
        pp.resample_ratio(0, 125)


def test_to_canonical_derives_limb_leads():
    rec = make_record(leads=("II", "I", "V1"))
    out = pp.to_canonical(rec, ("I", "II", "III", "aVR", "aVL", "aVF", "V1"))
    i, ii = rec.signal[1].astype(np.float64), rec.signal[0].astype(np.float64)
    np.testing.assert_allclose(out[0], i)
    np.testing.assert_allclose(out[1], ii)
    np.testing.assert_allclose(out[2], ii - i)
    np.testing.assert_allclose(out[3], -(i + ii) / 2)
    np.testing.assert_allclose(out[4], i - ii / 2)
    np.testing.assert_allclose(out[5], ii - i / 2)
    np.testing.assert_allclose(out[6], rec.signal[2])


def test_to_canonical_missing_leads_named():
    rec = make_record(leads=("I", "II"))
    with pytest.raises(RecordError) as info:
        pp.to_canonical(rec, LEADS)
    assert info.value.record == "R1"
    assert info.value.reason == "missing leads: V1, V2, V3, V4, V5, V6"
    rec = make_record(leads=("I", "V1"))
    with pytest.raises(RecordError, match="missing leads: II, III"):
        pp.to_canonical(rec, ("I", "II", "III"))


def test_check_record_accepts_good_record():
    pp.check_record(make_record(), CFG)


@pytest.mark.parametrize("mutate, reason", [
    (lambda r: replace(r, signal=np.where(np.arange(r.signal.shape[1]) == 7, np.nan,
                                          r.signal).astype(np.float32)), "NaN"),
    (lambda r: replace(r, signal=np.where(np.arange(r.signal.shape[1]) == 7, np.inf,
                                          r.signal).astype(np.float32)), "infinite"),
    (lambda r: replace(r, signal=np.zeros_like(r.signal)), "flat line in lead(s) I, II, III"),
    (lambda r: replace(r, signal=r.signal[:, :500]), "too short"),
    (lambda r: replace(r, fs=40.0), "below the minimum"),
    (lambda r: replace(r, fs=0.0), "invalid sampling rate"),
    (lambda r: replace(r, fs=-5.0), "invalid sampling rate"),
    (lambda r: replace(r, fs=500.0 + 1e-3 * np.pi), "cannot resample"),
    (lambda r: replace(r, signal=r.signal[:, :0]), "no samples"),
])
def test_check_record_problems(mutate, reason):
    rec = mutate(make_record(name="E42"))
    with pytest.raises(RecordError) as info:
        pp.check_record(rec, CFG)
    assert info.value.record == "E42"
    assert reason in info.value.reason


def test_flat_leads_among_live_ones_are_warnings_and_kept_as_zeros():
    rec = make_record(name="E42")
    rec = replace(rec, signal=np.concatenate([rec.signal[:10], np.full_like(rec.signal[10:], 0.2)]))
    notes = pp.check_record(rec, CFG)
    assert any("flat line in lead(s) V5, V6" in n and "kept as zeros" in n for n in notes)
    x = pp.prepare_signal(rec, CFG)
    assert np.all(x[:, -2:] == 0) and np.abs(x[:, :10]).max() > 0
    # A model that reads only I and II: the flat leads are not read, only mentioned.
    two = replace(CFG, leads=("I", "II"))
    (note,) = pp.check_record(rec, two)
    assert "V5, V6" in note and "not read" in note and "ignored" in note
    # Every lead the model reads flat: the record cannot be used.
    with pytest.raises(RecordError, match="flat line in lead\\(s\\) V5, V6"):
        pp.check_record(rec, replace(CFG, leads=("V5", "V6")))


def test_fit_length_crop_and_pad():
    x = np.arange(20, dtype=np.float32).reshape(10, 2)
    y, n = pp.fit_length(x, 4)
    assert n == 4 and y.shape == (4, 2)
    np.testing.assert_array_equal(y, x[3:7])
    y, n = pp.fit_length(x, 13)
    assert n == 10 and y.shape == (13, 2)
    np.testing.assert_array_equal(y[:10], x)
    assert not y[10:].any()


def test_normalise_window_matches_definition():
    rng = np.random.default_rng(1)
    w = (rng.standard_normal((256, 3)) * [1, 2, 0.5] + [3, -1, 0]).astype(np.float32)
    w[:, 2] = 0.25  # a flat lead: eps keeps it finite
    out = pp.normalise_window(w, CFG)
    assert out.dtype == np.float32
    mean = w.astype(np.float64).mean(0)
    std = w.astype(np.float64).std(0)
    np.testing.assert_allclose(out, (w - mean) / (std + CFG.zscore_eps), rtol=1e-5, atol=1e-5)
    assert np.all(out[:, 2] == 0)
    batch = np.stack([w, 2 * w])
    np.testing.assert_allclose(pp.normalise_window(batch, CFG)[0], out, rtol=1e-6)
    np.testing.assert_array_equal(pp.normalise_window(w, replace(CFG, normalise="none")), w)
    with pytest.raises(ValueError):
        pp.normalise_window(w, replace(CFG, normalise="minmax"))


def test_sliding_windows():
    x = np.arange(10, dtype=np.float32)[:, None]
    w = pp.sliding_windows(x, 4, 3)
    assert w.shape == (3, 4, 1)
    np.testing.assert_array_equal(w[:, 0, 0], [0, 3, 6])
    w = pp.sliding_windows(x, 16, 3)
    assert w.shape == (1, 16, 1)
    assert not w[0, 10:].any() and w[0, 9, 0] == 9
    assert pp.sliding_windows(x, 10, 4).shape == (1, 10, 1)


def test_demographics_vector():
    np.testing.assert_array_equal(pp.demographics_vector(65, "M"), np.float32([0.65, 1, 1, 0, 1]))
    np.testing.assert_array_equal(pp.demographics_vector(None, "F"), [0, 0, 0, 1, 1])
    np.testing.assert_array_equal(pp.demographics_vector(float("nan"), "Unknown"), [0, 0, 0, 0, 0])
    np.testing.assert_array_equal(pp.DEMOGRAPHICS_DEFAULT, np.zeros(5))
    assert pp.demographics_vector(40, None).dtype == np.float32
