"""Multi-label iterative stratification and train/val/test splits."""
from types import SimpleNamespace

import numpy as np
import pytest

from lrh_tflm.config import SplitConfig
from lrh_tflm.data.record import DatasetError
from lrh_tflm.data.splits import split_indices, stratified_folds


def label_matrix(n=1000, seed=0):
    rng = np.random.default_rng(seed)
    prevalence = np.array([0.4, 0.2, 0.1, 0.05, 0.03, 0.01, 0.006, 0.3])
    y = rng.random((n, prevalence.size)) < prevalence
    y[:, 6] |= y[:, 5] & (rng.random(n) < 0.5)  # correlated labels
    return y


@pytest.mark.parametrize("k", [5, 10])
def test_every_class_spread_evenly(k):
    y = label_matrix()
    folds = stratified_folds(y, k, seed=3)
    assert folds.shape == (len(y),) and set(folds.tolist()) == set(range(k))
    per_fold = np.stack([y[folds == f].sum(axis=0) for f in range(k)])
    ideal = y.sum(axis=0) / k
    assert np.all(np.abs(per_fold - ideal) <= 2), (per_fold, ideal)
    sizes = np.bincount(folds, minlength=k)
    assert np.all(np.abs(sizes - len(y) / k) <= 2), sizes


def test_better_than_random_assignment():
    y = label_matrix(seed=1)
    k = 5
    strat = stratified_folds(y, k, seed=0)
    rand = np.random.default_rng(0).integers(0, k, len(y))

    def spread(f):
        return np.abs(np.stack([y[f == j].sum(0) for j in range(k)]) - y.sum(0) / k).max()

    assert spread(strat) < spread(rand)


def test_deterministic_and_seeded():
    y = label_matrix(300)
    a = stratified_folds(y, 5, seed=7)
    np.testing.assert_array_equal(a, stratified_folds(y, 5, seed=7))
    assert not np.array_equal(a, stratified_folds(y, 5, seed=8))


def test_unlabelled_records_assigned():
    y = np.zeros((23, 3), dtype=bool)
    y[:4, 0] = True
    folds = stratified_folds(y, 5)
    assert (folds >= 0).all()
    assert np.bincount(folds, minlength=5).max() - np.bincount(folds, minlength=5).min() <= 1


def test_bad_arguments():
    with pytest.raises(ValueError):
        stratified_folds(np.zeros((5, 2), bool), 1)
    with pytest.raises(ValueError):
        stratified_folds(np.zeros(5, bool), 5)


def test_split_indices_partition():
    y = label_matrix(200)
    parts = split_indices(SimpleNamespace(y=y, folds=None), SplitConfig(folds=5, val_fold=1,
                                                                        test_fold=0))
    all_idx = np.concatenate([parts["train"], parts["val"], parts["test"]])
    assert sorted(all_idx.tolist()) == list(range(200))   # union = all, no overlap
    assert abs(len(parts["val"]) - 40) <= 2 and abs(len(parts["test"]) - 40) <= 2
    folds = stratified_folds(y, 5, 0)
    np.testing.assert_array_equal(parts["test"], np.flatnonzero(folds == 0))
    np.testing.assert_array_equal(parts["val"], np.flatnonzero(folds == 1))


def test_split_indices_official_folds():
    folds = np.array([1, 2, 9, 10, 3, 8, 9, 10, 4])
    data = SimpleNamespace(y=np.ones((9, 1), bool), folds=folds)
    parts = split_indices(data, SplitConfig())
    assert parts["train"].tolist() == [0, 1, 4, 5, 8]
    assert parts["val"].tolist() == [2, 6]
    assert parts["test"].tolist() == [3, 7]


def test_split_indices_errors():
    data = SimpleNamespace(y=np.ones((2, 1), bool), folds=None)
    with pytest.raises(DatasetError, match="too few"):
        split_indices(data, SplitConfig(folds=5))
    with pytest.raises(ValueError, match="both 1"):
        split_indices(data, SplitConfig(val_fold=1, test_fold=1))
    with pytest.raises(ValueError, match="outside"):
        split_indices(data, SplitConfig(folds=5, val_fold=5))
