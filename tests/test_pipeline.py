"""tf.data pipeline and numpy window helpers on a small in-memory prepared set."""
from pathlib import Path

import numpy as np
import pytest

import lrh_tflm  # noqa: F401  (before TensorFlow)
from lrh_tflm.config import PreprocessConfig, replace
from lrh_tflm.data.cache import PreparedData
from lrh_tflm.data.labels import scored_space
from lrh_tflm.data.pipeline import (
    crop,
    eval_windows,
    grid_positions,
    grid_windows,
    hop_offsets,
    make_dataset,
    representative_windows,
)
from lrh_tflm.data.preprocess import normalise_window
from lrh_tflm.leads import LEADS

N, CACHE_LEN, WINDOW = 11, 300, 128
PRE = PreprocessConfig(fs=100.0, window=WINDOW, cache_len=CACHE_LEN)


def prepared(seed=0, ids=False):
    """Random ECG-sized signals; with ``ids`` record i, sample t, lead l holds
    i*10000 + t + l/100 instead, so an un-normalised crop reveals its record and start."""
    rng = np.random.default_rng(seed)
    if ids:
        t = np.arange(CACHE_LEN)[None, :, None]
        i = np.arange(N)[:, None, None]
        l = np.arange(12)[None, None, :]
        x = (i * 10000 + t + l / 100).astype(np.float32)
    else:
        x = (rng.standard_normal((N, CACHE_LEN, 12)) * 0.5 + 0.2).astype(np.float32)
    valid = np.array([300, 300, 200, 128, 100, 300, 250, 300, 129, 300, 60], dtype=np.int32)
    for k, v in enumerate(valid):
        x[k, v:] = 0
    space = scored_space().subset([0, 14, 11])
    y = rng.random((N, 3)) < 0.5
    demo = rng.random((N, 5)).astype(np.float32)
    return PreparedData(x=x, valid_len=valid, y=y, demo=demo, names=tuple(f"R{k}" for k in range(N)),
                        folds=None, classes=space, pre=PRE, path=Path("/nowhere"), manifest={})


def collect(ds):
    ecg, demo, y = [], [], []
    for inputs, labels in ds:
        ecg.append(inputs["ecg"].numpy())
        demo.append(inputs["demo"].numpy())
        y.append(labels.numpy())
    return np.concatenate(ecg), np.concatenate(demo), np.concatenate(y), [len(b) for b in y]


def test_eval_dataset_equals_numpy_reference():
    data = prepared()
    idx = np.array([3, 0, 7, 10, 2])
    ds = make_dataset(data, idx, window=WINDOW, batch_size=2, training=False)
    ecg, demo, y, sizes = collect(ds)
    assert sizes == [2, 2, 1]          # nothing dropped
    assert ecg.shape == (5, 1, WINDOW, 12) and ecg.dtype == np.float32
    ref_ecg, ref_demo, ref_y = eval_windows(data, idx, WINDOW)
    np.testing.assert_allclose(ecg, ref_ecg, rtol=1e-5, atol=2e-5)
    np.testing.assert_array_equal(demo, data.demo[idx])
    np.testing.assert_array_equal(y, data.y[idx].astype(np.float32))
    # Centre crop of the valid part, normalised as preprocess.normalise_window.
    start = (300 - WINDOW) // 2
    np.testing.assert_allclose(ref_ecg[1, 0], normalise_window(data.x[0, start:start + WINDOW], PRE),
                               rtol=1e-6)
    start = (200 - WINDOW) // 2
    np.testing.assert_allclose(ref_ecg[4, 0], normalise_window(data.x[2, start:start + WINDOW], PRE),
                               rtol=1e-6)
    # Shorter than a window: read from 0 with the cache's zero padding.
    np.testing.assert_allclose(ref_ecg[3, 0], normalise_window(data.x[10, :WINDOW], PRE), rtol=1e-6)
    # Deterministic.
    np.testing.assert_array_equal(collect(ds)[0], ecg)


def test_lead_subset_selected_in_pipeline():
    data = prepared(ids=True)
    idx = np.arange(N)
    ecg, *_ = collect(make_dataset(data, idx, window=WINDOW, batch_size=4, training=False,
                                   leads=("V2", "I"), normalise="none"))
    assert ecg.shape == (N, 1, WINDOW, 2)
    full, *_ = eval_windows(data, idx, WINDOW, normalise="none")
    np.testing.assert_array_equal(ecg[..., 0], full[..., LEADS.index("V2")])
    np.testing.assert_array_equal(ecg[..., 1], full[..., 0])


def test_training_random_crops_inside_valid_part_and_every_record_once():
    data = prepared(ids=True)
    idx = np.arange(N)
    ds = make_dataset(data, idx, window=WINDOW, batch_size=4, training=True, seed=1,
                      normalise="none")
    starts_per_epoch = []
    for _ in range(3):
        ecg, demo, y, sizes = collect(ds)
        assert sizes == [4, 4, 3]
        lead0 = ecg[:, 0, :, 0]
        rec = np.floor(lead0[:, 0] / 10000).astype(int)
        # Record 10 is shorter than the window and starts at 0 → first sample 100000.
        assert sorted(rec.tolist()) == list(range(N))
        starts = {}
        for k, r in enumerate(rec):
            t0 = int(round(lead0[k, 0] - r * 10000))
            span = max(int(data.valid_len[r]) - WINDOW, 0)
            assert 0 <= t0 <= span
            expected = data.x[r, t0:t0 + WINDOW, 0]
            np.testing.assert_array_equal(lead0[k], expected)
            np.testing.assert_array_equal(demo[k], data.demo[r])
            starts[r] = t0
        starts_per_epoch.append(starts)
    assert starts_per_epoch[0] != starts_per_epoch[1]   # new crops every epoch
    # Same seed, same sequence.
    again = collect(make_dataset(data, idx, window=WINDOW, batch_size=4, training=True, seed=1,
                                 normalise="none"))[0]
    first = collect(make_dataset(data, idx, window=WINDOW, batch_size=4, training=True, seed=1,
                                 normalise="none"))[0]
    np.testing.assert_array_equal(again, first)


def test_training_zscore_matches_numpy():
    data = prepared()
    ecg, *_ = collect(make_dataset(data, np.arange(N), window=WINDOW, batch_size=5,
                                   training=True, seed=3))
    # Undo nothing: recompute the crop from the raw data and compare after normalisation.
    raw, *_ = collect(make_dataset(data, np.arange(N), window=WINDOW, batch_size=5,
                                   training=True, seed=3, normalise="none"))
    np.testing.assert_allclose(ecg, normalise_window(raw, PRE), rtol=1e-5, atol=1e-4)


def test_representative_windows():
    data = prepared(ids=True)
    raw, demo = representative_windows(data, [0, 1, 5, 7], 6, WINDOW, leads=("I", "II"), seed=2,
                                       normalise="none")
    assert raw.shape == (6, 1, WINDOW, 2) and demo.shape == (6, 5)
    recs = np.floor(raw[:, 0, 0, 0] / 10000).astype(int)
    assert set(recs.tolist()) <= {0, 1, 5, 7}
    for k, r in enumerate(recs):
        t0 = int(round(raw[k, 0, 0, 0] - r * 10000))
        assert 0 <= t0 <= max(data.valid_len[r] - WINDOW, 0)
        np.testing.assert_array_equal(demo[k], data.demo[r])
    data = prepared()
    ecg, _ = representative_windows(data, [0, 1, 5, 7], 6, WINDOW, leads=("I", "II"), seed=2)
    raw, _ = representative_windows(data, [0, 1, 5, 7], 6, WINDOW, leads=("I", "II"), seed=2,
                                    normalise="none")
    np.testing.assert_allclose(ecg, normalise_window(raw, PRE), rtol=1e-6)


def test_bad_arguments():
    data = prepared()
    with pytest.raises(ValueError, match="window"):
        eval_windows(data, [0], CACHE_LEN + 1)
    with pytest.raises(ValueError, match="normalisation"):
        make_dataset(data, [0], window=WINDOW, batch_size=2, training=False, normalise="minmax")
    with pytest.raises(Exception, match="unknown lead"):
        eval_windows(data, [0], WINDOW, leads=("I", "X9"))
    assert replace(PRE, normalise="none").normalise == "none"


def test_hop_windows_cover_the_cache_and_stay_inside_valid_part():
    p = prepared(ids=True)
    offsets = hop_offsets(p.valid_len, WINDOW, 64, CACHE_LEN)
    assert offsets.shape == (N, (CACHE_LEN - WINDOW) // 64 + 1)
    np.testing.assert_array_equal(offsets[0], [0, 64, 128])
    # A record shorter than the window keeps its one window at 0; others clip to the valid end.
    assert (offsets[10] == 0).all() and offsets[2].max() == 200 - WINDOW
    ecg, demo, y = eval_windows(p, np.arange(N), WINDOW, normalise="none", hop=64)
    assert ecg.shape == (N, 3, 1, WINDOW, 12) and demo.shape == (N, 5) and y.shape == (N, 3)
    for i in range(N):
        for k in range(3):
            start = ecg[i, k, 0, 0, 0] - i * 10000
            assert start == offsets[i, k]
    with pytest.raises(ValueError, match="hop"):
        hop_offsets(p.valid_len, WINDOW, 0, CACHE_LEN)


def test_grid_crops_carry_their_attached_rows():
    p = prepared(ids=True)
    step = 50
    n_pos = grid_positions(CACHE_LEN, WINDOW, step)
    assert n_pos == (CACHE_LEN - WINDOW) // step + 1
    # Row (record i, position k) holds i*100 + k: each batch must carry its crops' rows.
    table = (np.arange(N)[:, None] * 100 + np.arange(n_pos)[None, :]).astype(np.float32)
    ds = make_dataset(p, np.arange(N), window=WINDOW, batch_size=4, training=True,
                      normalise="none", crop_step=step, attach={"tag": table[..., None]})
    for _ in range(3):  # several epochs: random positions, always on the grid
        for inputs, _ in ds:
            ecg, tag = inputs["ecg"].numpy(), inputs["tag"].numpy()[:, 0]
            rec = (ecg[:, 0, 0, 0] // 10000).astype(int)
            start = ecg[:, 0, 0, 0] - rec * 10000
            assert (start % step == 0).all()
            assert (start + WINDOW <= np.maximum(p.valid_len[rec], WINDOW)).all()
            np.testing.assert_array_equal(tag, rec * 100 + start // step)
    # The numpy grid gives the same crops, normalised like training inputs; positions past
    # the valid part repeat the last one on the grid, as training's clipping does.
    seen = 0
    for pos, ecg, demo in grid_windows(p, np.arange(N), WINDOW, step, leads=("II",)):
        assert ecg.shape == (len(pos), n_pos, 1, WINDOW, 1) and demo.shape == (len(pos), 5)
        for j, i in enumerate(pos):
            span = max(int(p.valid_len[i]) - WINDOW, 0)
            for k in range(n_pos):
                start = min(k * step, span // step * step)
                ref = normalise_window(crop(p, np.array([i]), np.array([start]), WINDOW)[..., 1:2],
                                       PRE)
                np.testing.assert_allclose(ecg[j, k, 0], ref[0], rtol=1e-6, atol=1e-6)
                seen += 1
    assert seen == N * n_pos
    with pytest.raises(ValueError, match="grid"):
        make_dataset(p, np.arange(N), window=WINDOW, batch_size=4, training=False,
                     attach={"tag": table[..., None]})
