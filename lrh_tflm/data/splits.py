"""Train/validation/test splits: official folds where the data has them, else stratified folds.

Multi-label data cannot be stratified by one class, so folds come from iterative
stratification (Sechidis, Tsoumakas and Vlahavas, "On the stratification of multi-label
data", ECML PKDD 2011): the rarest labels are distributed first, each record going to the
fold that still needs that label most, so every class is spread over the folds as evenly as
its count allows.
"""
from __future__ import annotations

import numpy as np

from lrh_tflm.config import SplitConfig
from lrh_tflm.data.record import DatasetError

#: Official PTB-XL convention (Strodthoff et al. 2020): folds 1–8 train, 9 validation, 10 test.
OFFICIAL_VAL_FOLD = 9
OFFICIAL_TEST_FOLD = 10


def _pick(candidates: np.ndarray, scores: np.ndarray, rng: np.random.Generator) -> int:
    """Among ``candidates``, one with the highest score; ties broken at random."""
    best = candidates[scores[candidates] == scores[candidates].max()]
    return int(best[0] if best.size == 1 else rng.choice(best))


def stratified_folds(y: np.ndarray, n_folds: int, seed: int = 0) -> np.ndarray:
    """Assign every record to one of ``n_folds`` folds by multi-label iterative stratification.

    Parameters
    ----------
    y
        bool ``(N, C)`` label matrix.
    n_folds
        Number of (equal-sized) folds, ≥ 2.
    seed
        Seed for the order within a label and for ties; the result is deterministic.

    Returns
    -------
    numpy.ndarray
        int ``(N,)`` fold of each record, in ``0 … n_folds − 1``.

    Notes
    -----
    Each fold wants ``N / k`` records and ``count_c / k`` positives of each class ``c``.
    Repeatedly take the label with the fewest not-yet-assigned positives; give each of its
    records (in seeded random order) to the fold with the largest remaining demand for that
    label, ties to the fold with the largest remaining demand overall, then at random; every
    assignment lowers that fold's demand for all the record's labels.  Records without any
    label finally go to the folds with the largest remaining demand.
    """
    y = np.asarray(y, dtype=bool)
    if y.ndim != 2:
        raise ValueError(f"label matrix must be 2-D (records × classes), got shape {y.shape}")
    if n_folds < 2:
        raise ValueError(f"need at least 2 folds, got {n_folds}")
    n = y.shape[0]
    rng = np.random.default_rng(seed)
    yi = y.astype(np.int64)
    demand_total = np.full(n_folds, n / n_folds)
    demand = np.outer(np.full(n_folds, 1.0 / n_folds), yi.sum(axis=0))  # (folds, classes)
    left = yi.sum(axis=0)
    fold = np.full(n, -1, dtype=np.int64)
    all_folds = np.arange(n_folds)
    while left.any():
        counts = np.where(left > 0, left, np.iinfo(np.int64).max)
        label = _pick(np.flatnonzero(counts == counts.min()), np.zeros(y.shape[1]), rng)
        members = np.flatnonzero((fold < 0) & y[:, label])
        rng.shuffle(members)
        for i in members:
            need = demand[:, label]
            cands = all_folds[need == need.max()]
            j = _pick(cands, demand_total, rng) if cands.size > 1 else int(cands[0])
            fold[i] = j
            demand[j] -= yi[i]
            demand_total[j] -= 1
            left -= yi[i]
    rest = np.flatnonzero(fold < 0)
    rng.shuffle(rest)
    for i in rest:
        j = _pick(all_folds, demand_total, rng)
        fold[i] = j
        demand_total[j] -= 1
    return fold


def split_indices(prepared, split_cfg: SplitConfig) -> dict[str, np.ndarray]:
    """Record indices of the train, validation and test splits of a prepared dataset.

    Parameters
    ----------
    prepared
        A :class:`lrh_tflm.data.cache.PreparedData` (uses ``folds`` and ``y``).
    split_cfg
        Fold count, validation/test folds and seed for data without official folds.

    Returns
    -------
    dict
        ``{"train": ..., "val": ..., "test": ...}``, sorted int arrays, disjoint, covering
        every record.  Data with official folds (PTB-XL) uses them: folds 1–8 train,
        9 validation, 10 test; ``split_cfg`` is then ignored.

    Raises
    ------
    ValueError
        Validation and test fold equal or out of range.
    DatasetError
        A split would be empty (too few records for the folds), or an official fold is
        outside 1–10.
    """
    if prepared.folds is not None:
        folds = np.asarray(prepared.folds)
        # A fold outside 1–10 would otherwise fall into training without anyone noticing.
        stray = sorted({int(f) for f in folds if not 1 <= int(f) <= OFFICIAL_TEST_FOLD})
        if stray:
            raise DatasetError(f"official fold(s) {', '.join(map(str, stray))} are outside "
                               f"1–{OFFICIAL_TEST_FOLD}; the reader should have reported those "
                               f"records")
        val = folds == OFFICIAL_VAL_FOLD
        test = folds == OFFICIAL_TEST_FOLD
        how = f"official folds ({OFFICIAL_VAL_FOLD} validation, {OFFICIAL_TEST_FOLD} test)"
    else:
        k = split_cfg.folds
        for what, f in (("validation", split_cfg.val_fold), ("test", split_cfg.test_fold)):
            if not 0 <= f < k:
                raise ValueError(f"{what} fold {f} is outside 0…{k - 1}")
        if split_cfg.val_fold == split_cfg.test_fold:
            raise ValueError(f"validation and test fold are both {split_cfg.val_fold}")
        folds = stratified_folds(prepared.y, k, split_cfg.seed)
        val = folds == split_cfg.val_fold
        test = folds == split_cfg.test_fold
        how = f"{k} stratified folds"
    out = {"train": np.flatnonzero(~val & ~test), "val": np.flatnonzero(val),
           "test": np.flatnonzero(test)}
    empty = [name for name, idx in out.items() if idx.size == 0]
    if empty:
        raise DatasetError(f"{len(folds)} records are too few for {how}: the "
                           f"{' and '.join(empty)} split(s) would be empty")
    return out


__all__ = ["OFFICIAL_VAL_FOLD", "OFFICIAL_TEST_FOLD", "stratified_folds", "split_indices"]
