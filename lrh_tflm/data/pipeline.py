"""Model inputs from a prepared cache: the tf.data pipeline and numpy window helpers.

Every model input is a window of ``window`` samples cut from a cached record, then
normalised per window and per lead exactly as :func:`lrh_tflm.data.preprocess.normalise_window`
(and the firmware) does.  Inputs are ``{"ecg": (B, 1, window, L), "demo": (B, 5)}`` —
the leading 1 is the height of the Conv2D (1 × k) layers the models are built from.

Crops: training takes a uniformly random start inside each record's valid (non-padding)
part, ``start ∈ [0, max(valid_len − window, 0)]``; evaluation takes the centre of the valid
part, ``start = max(valid_len − window, 0) // 2``.  A record shorter than the window is
read from 0 and keeps the zero padding of the cache.

Memory: the cached signals stay in their memory-mapped ``x.npy``.  The dataset shuffles
*record indices*, and each batch reads only its own windows from the memmap
(``tf.numpy_function``), so a cache far larger than RAM (the paper profile on the full
Challenge set is several GB) trains without being loaded; the page cache does the rest.
TensorFlow is imported only inside :func:`make_dataset`, so the numpy helpers
(:func:`eval_windows`, :func:`representative_windows`) stay light.
"""
from __future__ import annotations

from typing import Sequence

import numpy as np

from lrh_tflm.config import replace
from lrh_tflm.data.preprocess import normalise_window
from lrh_tflm.leads import lead_indices


def _lead_idx(prepared, leads: Sequence[str] | None) -> list[int] | None:
    if leads is None:
        return None
    return lead_indices(leads, within=prepared.leads)


def _check_window(prepared, window: int) -> None:
    cache_len = int(prepared.x.shape[1])
    if not 0 < window <= cache_len:
        raise ValueError(f"window {window} must be between 1 and the cached length {cache_len}")


def _norm_cfg(prepared, normalise: str | None):
    return prepared.pre if normalise is None else replace(prepared.pre, normalise=normalise)


def centre_offsets(valid_len: np.ndarray, window: int) -> np.ndarray:
    """Evaluation crop starts: the centre of each record's valid part (0 if shorter)."""
    return np.maximum(np.asarray(valid_len, dtype=np.int64) - window, 0) // 2


def crop(prepared, indices: np.ndarray, offsets: np.ndarray, window: int) -> np.ndarray:
    """Raw (un-normalised) windows ``(n, window, all leads)`` from the cache at given starts."""
    indices = np.asarray(indices, dtype=np.int64)
    offsets = np.asarray(offsets, dtype=np.int64)
    out = np.empty((indices.size, window, prepared.x.shape[2]), dtype=np.float32)
    # Reading in index order keeps memmap access sequential.
    for k in np.argsort(indices, kind="stable"):
        o = offsets[k]
        out[k] = prepared.x[indices[k], o:o + window]
    return out


def _finish(prepared, raw: np.ndarray, leads, normalise) -> np.ndarray:
    idx = _lead_idx(prepared, leads)
    if idx is not None:
        raw = raw[..., idx]
    return normalise_window(raw, _norm_cfg(prepared, normalise))[:, None]


def hop_offsets(valid_len: np.ndarray, window: int, hop: int, cache_len: int) -> np.ndarray:
    """Start of every evaluation window of each record: ``0, hop, 2·hop, …`` up to the cache
    length, clipped to the record's valid part (a shorter record repeats its last window).

    Returns
    -------
    np.ndarray
        int64 ``(n, k)`` with ``k = (cache_len − window) // hop + 1`` for every record.
    """
    if hop <= 0:
        raise ValueError(f"evaluation hop must be positive, got {hop}")
    k = max((int(cache_len) - int(window)) // int(hop), 0) + 1
    span = np.maximum(np.asarray(valid_len, dtype=np.int64) - window, 0)
    return np.minimum(np.arange(k, dtype=np.int64)[None, :] * hop, span[:, None])


def eval_windows(prepared, indices, window: int, leads: Sequence[str] | None = None,
                 normalise: str | None = None, hop: int | None = None
                 ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Centre-cropped, normalised evaluation windows as numpy arrays (same as the eval dataset).

    With ``hop``, every record gives ``k`` windows (:func:`hop_offsets`) instead of one centre
    crop and ``ecg`` has a window axis, ``(n, k, 1, window, L)``; :func:`lrh_tflm.train.predict_probs`
    averages the probabilities over it (test-time aggregation).

    Parameters
    ----------
    prepared
        A :class:`lrh_tflm.data.cache.PreparedData`.
    indices
        Record indices.
    window
        Samples per window.
    leads
        Lead subset in the order wanted (``None``: all cached leads).
    normalise
        ``"zscore"`` or ``"none"``; ``None`` uses the cache's ``pre.normalise``.

    Returns
    -------
    (ecg, demo, y)
        float32 ``(n, 1, window, L)`` (``(n, k, 1, window, L)`` with ``hop``), float32
        ``(n, 5)``, float32 ``(n, C)``.
    """
    _check_window(prepared, window)
    indices = np.asarray(indices, dtype=np.int64)
    if hop is None:
        raw = crop(prepared, indices, centre_offsets(prepared.valid_len[indices], window), window)
        ecg = _finish(prepared, raw, leads, normalise)
    else:
        offsets = hop_offsets(prepared.valid_len[indices], window, hop, prepared.x.shape[1])
        n, k = offsets.shape
        raw = crop(prepared, np.repeat(indices, k), offsets.reshape(-1), window)
        ecg = _finish(prepared, raw, leads, normalise)
        ecg = ecg.reshape((n, k) + ecg.shape[1:])
    return (ecg,
            np.asarray(prepared.demo[indices], dtype=np.float32),
            np.asarray(prepared.y[indices], dtype=np.float32))


def representative_windows(prepared, train_indices, n: int, window: int,
                           leads: Sequence[str] | None = None, seed: int = 0,
                           normalise: str | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Random training windows for int8 calibration (the converter's representative dataset).

    ``n`` records are drawn from ``train_indices`` (without replacement while possible),
    each cropped at a random start inside its valid part, normalised like training inputs.

    Returns
    -------
    (ecg, demo)
        float32 ``(n, 1, window, L)`` and float32 ``(n, 5)``.
    """
    _check_window(prepared, window)
    train_indices = np.asarray(train_indices, dtype=np.int64)
    if train_indices.size == 0:
        raise ValueError("no training records to draw representative windows from")
    rng = np.random.default_rng(seed)
    pick = rng.choice(train_indices, size=n, replace=n > train_indices.size)
    span = np.maximum(prepared.valid_len[pick].astype(np.int64) - window, 0)
    offsets = rng.integers(0, span + 1)
    raw = crop(prepared, pick, offsets, window)
    return (_finish(prepared, raw, leads, normalise),
            np.asarray(prepared.demo[pick], dtype=np.float32))


def grid_positions(cache_len: int, window: int, step: int) -> int:
    """Number of crop starts ``0, step, 2·step, …`` a ``cache_len``-sample record offers."""
    if step <= 0:
        raise ValueError(f"crop step must be positive, got {step}")
    return max(int(cache_len) - int(window), 0) // int(step) + 1


def grid_windows(prepared, indices, window: int, step: int, leads: Sequence[str] | None = None):
    """Every grid crop of the records, normalised like training inputs, one record at a time
    in chunks: yields ``(record positions in indices, ecg (n, P, 1, window, L), demo (n, 5))``
    with grid positions past a record's valid part repeating its last valid crop, exactly as
    :func:`make_dataset` clips them."""
    indices = np.asarray(indices, dtype=np.int64)
    n_pos = grid_positions(prepared.x.shape[1], window, step)
    for lo in range(0, indices.size, 256):
        idx = indices[lo:lo + 256]
        span = np.maximum(prepared.valid_len[idx].astype(np.int64) - window, 0)
        offsets = np.minimum(np.arange(n_pos)[None, :] * step, (span // step * step)[:, None])
        raw = crop(prepared, np.repeat(idx, n_pos), offsets.reshape(-1), window)
        ecg = _finish(prepared, raw, leads, None)
        yield (np.arange(lo, lo + idx.size), ecg.reshape((idx.size, n_pos) + ecg.shape[1:]),
               np.asarray(prepared.demo[idx], dtype=np.float32))


def make_dataset(prepared, indices, *, window: int, batch_size: int,
                 leads: Sequence[str] | None = None, training: bool, seed: int = 0,
                 normalise: str | None = None, crop_step: int | None = None,
                 attach: dict[str, np.ndarray] | None = None):
    """A batched ``tf.data.Dataset`` of model inputs and labels.

    Parameters
    ----------
    prepared
        A :class:`lrh_tflm.data.cache.PreparedData`.
    indices
        Record indices of the split (e.g. from :func:`lrh_tflm.data.splits.split_indices`).
    window
        Samples per window (≤ the cache length).
    batch_size
        Records per batch; the last batch may be smaller (nothing is dropped).
    leads
        Lead subset, in order (``("I", "II")``), gathered from the cached leads inside the
        pipeline; ``None`` keeps every cached lead (canonical 12-lead order).
    training
        ``True``: reshuffled every epoch and a random crop per record per epoch;
        ``False``: fixed order, centre crops (deterministic).
    seed
        Seed of shuffling and crops.
    normalise
        ``"zscore"`` or ``"none"``; ``None`` uses the cache's ``pre.normalise``.
    crop_step
        Training crops start at a random multiple of this many samples inside the valid
        part (``None``: at any sample).
    attach
        Training on a crop grid only: ``{name: array (n_records, P, ...)}`` of per-crop
        values (e.g. teacher logits from :func:`grid_windows`), indexed by the record's
        index in the prepared data and the crop's grid position; each batch carries its rows
        as ``inputs[name]``.

    Returns
    -------
    tf.data.Dataset
        Elements ``({"ecg": float32 (B, 1, window, L), "demo": float32 (B, 5)},
        float32 (B, C))``, prefetched.
    """
    import tensorflow as tf

    _check_window(prepared, window)
    if batch_size <= 0:
        raise ValueError(f"batch size must be positive, got {batch_size}")
    mode = _norm_cfg(prepared, normalise)
    normalise_window(np.zeros((1, 1), np.float32), mode)  # rejects an unknown mode early
    idx = np.asarray(indices, dtype=np.int64)
    if idx.size == 0:
        raise ValueError("no records to make a dataset from")
    n_leads_all = int(prepared.x.shape[2])
    lead_idx = _lead_idx(prepared, leads)
    valid_len = tf.constant(np.asarray(prepared.valid_len, dtype=np.int64))
    demo = tf.constant(np.asarray(prepared.demo, dtype=np.float32))
    y = tf.constant(np.asarray(prepared.y, dtype=np.float32))
    eps = tf.constant(mode.zscore_eps, tf.float32)
    if attach and not (training and crop_step):
        raise ValueError("per-crop values can only be attached to training crops on a grid")
    attached = {k: tf.constant(np.asarray(v, dtype=np.float32)) for k, v in (attach or {}).items()}

    def read(batch_idx, offsets):
        return crop(prepared, batch_idx, offsets, window)

    def load(batch_idx, seeds):
        span = tf.maximum(tf.gather(valid_len, batch_idx) - window, 0)
        extra = {}
        if training and crop_step:
            u = tf.random.stateless_uniform(tf.shape(batch_idx), seed=seeds)
            n_pos = span // crop_step + 1
            pos = tf.minimum(tf.cast(tf.floor(u * tf.cast(n_pos, tf.float32)), tf.int64), n_pos - 1)
            offsets = pos * crop_step
            extra = {k: tf.gather_nd(v, tf.stack([batch_idx, pos], axis=-1))
                     for k, v in attached.items()}
        elif training:
            u = tf.random.stateless_uniform(tf.shape(batch_idx), seed=seeds)
            offsets = tf.minimum(tf.cast(tf.floor(u * tf.cast(span + 1, tf.float32)), tf.int64),
                                 span)
        else:
            offsets = span // 2
        w = tf.numpy_function(read, [batch_idx, offsets], tf.float32, stateful=False)
        w = tf.ensure_shape(w, [None, window, n_leads_all])
        if lead_idx is not None:
            w = tf.gather(w, lead_idx, axis=-1)
        if mode.normalise == "zscore":
            # Same arithmetic as preprocess.normalise_window: population std, float32.
            mean = tf.reduce_mean(w, axis=1, keepdims=True)
            c = w - mean
            w = c / (tf.sqrt(tf.reduce_mean(c * c, axis=1, keepdims=True)) + eps)
        inputs = {"ecg": w[:, None], "demo": tf.gather(demo, batch_idx), **extra}
        return inputs, tf.gather(y, batch_idx)

    ds = tf.data.Dataset.from_tensor_slices(idx)
    if training:
        ds = ds.shuffle(idx.size, seed=seed, reshuffle_each_iteration=True)
    ds = ds.batch(batch_size)
    # One stateless seed pair per batch; different every epoch in training.
    seeds = tf.data.Dataset.random(seed=seed, rerandomize_each_iteration=True).batch(2)
    ds = tf.data.Dataset.zip((ds, seeds))
    ds = ds.map(load, num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)
    return ds.prefetch(tf.data.AUTOTUNE)


__all__ = ["make_dataset", "eval_windows", "hop_offsets", "grid_positions", "grid_windows", "representative_windows", "centre_offsets", "crop"]
