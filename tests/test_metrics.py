"""Challenge score, ranking metrics and threshold tuning against hand-worked cases."""
import time

import numpy as np
import pytest

from lrh_tflm import metrics
from lrh_tflm.data.labels import scored_space, weights_matrix

AF, AFL, NSR = "164889003", "164890007", "426783006"
LBBB = "733534002|164909002"
THREE = [AF, AFL, NSR]


def _b(rows):
    return np.array(rows, dtype=bool)


def _reference_score(labels, outputs, classes):
    """Loop-for-loop transcription of the published definition (independent of the module)."""
    w = weights_matrix(classes)
    normal = list(classes).index(NSR)

    def confusion(lab, out):
        a = np.zeros((len(classes), len(classes)))
        for n in range(lab.shape[0]):
            norm = max(int(np.sum(lab[n] | out[n])), 1)
            for i in range(len(classes)):
                if lab[n, i]:
                    for j in range(len(classes)):
                        if out[n, j]:
                            a[i, j] += 1.0 / norm
        return a

    observed = np.sum(w * confusion(labels, outputs))
    correct = np.sum(w * confusion(labels, labels))
    inactive_out = np.zeros_like(labels)
    inactive_out[:, normal] = True
    inactive = np.sum(w * confusion(labels, inactive_out))
    return 0.0 if correct == inactive else (observed - inactive) / (correct - inactive)


class TestChallengeScore:
    labels = _b([[1, 0, 0], [0, 0, 1]])

    def test_perfect_is_one(self):
        assert metrics.challenge_score(self.labels, self.labels, THREE) == pytest.approx(1.0)

    def test_always_normal_is_zero(self):
        out = _b([[0, 0, 1], [0, 0, 1]])
        assert metrics.challenge_score(self.labels, out, THREE) == pytest.approx(0.0)

    def test_partial_credit_afl_for_af(self):
        # Record 1: AF predicted as AFL, union {AF, AFL} = 2 → A[AF, AFL] = 1/2, W = 0.5.
        # observed = 0.25 + 1 (record 2 right); correct = 2;
        # inactive = 1/2 · W[AF, NSR] (0.25) + 1 = 1.125 → (1.25 − 1.125)/(2 − 1.125) = 1/7.
        out = _b([[0, 1, 0], [0, 0, 1]])
        assert metrics.challenge_score(self.labels, out, THREE) == pytest.approx(1 / 7)

    def test_afl_scores_above_nothing_and_below_af(self):
        nothing = _b([[0, 0, 0], [0, 0, 1]])
        afl = _b([[0, 1, 0], [0, 0, 1]])
        s_nothing = metrics.challenge_score(self.labels, nothing, THREE)
        s_afl = metrics.challenge_score(self.labels, afl, THREE)
        assert s_nothing < 0 < s_afl < 1

    def test_multilabel_normalisation(self):
        # Label {AF}, output {AF, AFL}: union 2, so each pair gets 1/2.
        a = metrics.modified_confusion(_b([[1, 0, 0]]), _b([[1, 1, 0]]))
        expected = np.zeros((3, 3))
        expected[0, 0] = expected[0, 1] = 0.5
        np.testing.assert_allclose(a, expected)
        # Labels {AF, NSR}, output {AF}: union 2 → A[AF, AF] = A[NSR, AF] = 1/2.
        a = metrics.modified_confusion(_b([[1, 0, 1]]), _b([[1, 0, 0]]))
        expected = np.zeros((3, 3))
        expected[0, 0] = expected[2, 0] = 0.5
        np.testing.assert_allclose(a, expected)
        # An all-false record with all-false output adds nothing (normaliser max(1, 0)).
        assert metrics.modified_confusion(_b([[0, 0, 0]]), _b([[0, 0, 0]])).sum() == 0

    def test_matches_reference_on_random_predictions(self):
        rng = np.random.default_rng(3)
        classes = list(scored_space().classes)
        labels = rng.random((60, len(classes))) < 0.12
        outputs = rng.random((60, len(classes))) < 0.15
        assert metrics.challenge_score(labels, outputs, classes) == pytest.approx(
            _reference_score(labels, outputs, classes), abs=1e-12)

    def test_equivalent_class_naming(self):
        classes = [LBBB, NSR]
        labels = _b([[1, 0], [0, 1]])
        assert metrics.challenge_applicable(classes)
        assert metrics.challenge_score(labels, labels, classes) == pytest.approx(1.0)
        wrong = _b([[0, 1], [1, 0]])
        assert metrics.challenge_score(labels, wrong, classes) < 0

    def test_unscored_columns_are_ignored(self):
        labels = _b([[1, 0, 0, 1], [0, 0, 1, 0]])
        out = _b([[0, 1, 0, 0], [0, 0, 1, 1]])
        with_extra = metrics.challenge_score(labels, out, THREE + ["999999"])
        without = metrics.challenge_score(labels[:, :3], out[:, :3], THREE)
        assert with_extra == pytest.approx(without) == pytest.approx(1 / 7)

    def test_missing_normal_class_raises(self):
        assert not metrics.challenge_applicable([AF, AFL])
        with pytest.raises(ValueError, match="426783006"):
            metrics.challenge_score(_b([[1, 0]]), _b([[1, 0]]), [AF, AFL])

    def test_zero_denominator_gives_zero(self):
        labels = _b([[0, 0, 1], [0, 0, 1]])  # all normal: correct == inactive
        assert metrics.challenge_score(labels, labels, THREE) == 0.0

    def test_shape_mismatch_raises(self):
        with pytest.raises(ValueError):
            metrics.challenge_score(_b([[1, 0, 0]]), _b([[1, 0]]), THREE)


class TestRanking:
    def test_auroc_known_value_and_ties(self):
        y = np.array([0, 0, 1, 1], bool)
        assert metrics.auroc(y, [0.1, 0.4, 0.35, 0.8]) == pytest.approx(0.75)
        assert metrics.auroc(y, [0.5, 0.5, 0.5, 0.5]) == pytest.approx(0.5)
        assert metrics.auroc(y, [0.1, 0.2, 0.3, 0.4]) == pytest.approx(1.0)

    def test_auprc_known_value_and_ties(self):
        y = np.array([0, 0, 1, 1], bool)
        # Ranked: .8(+), .4(−), .35(+), .1(−) → AP = 1·½ + ⅔·½.
        assert metrics.auprc(y, [0.1, 0.4, 0.35, 0.8]) == pytest.approx(0.5 + 1 / 3)
        assert metrics.auprc(y, [0.3, 0.3, 0.3, 0.3]) == pytest.approx(0.5)  # prevalence

    def test_macro_skips_degenerate_classes_and_counts_them(self):
        y = np.array([[0, 0, 1], [1, 0, 1], [0, 0, 1], [1, 0, 1]], bool)
        p = np.array([[0.1, 0.5, 0.9], [0.9, 0.5, 0.9], [0.2, 0.5, 0.9], [0.8, 0.5, 0.9]])
        for fn in (metrics.macro_auroc, metrics.macro_auprc):
            res = fn(y, p)
            assert res.skipped == 2
            assert res.value == pytest.approx(1.0)
            assert np.isnan(res.per_class[1]) and np.isnan(res.per_class[2])
        res = metrics.macro_f1(y, p > 0.5)
        assert res.skipped == 2 and res.value == pytest.approx(1.0)

    def test_f1_value(self):
        # tp 1, fp 1, fn 1 → 2/(2+1+1)
        assert metrics.f1([1, 1, 0, 0], [1, 0, 1, 0]) == pytest.approx(0.5)


class TestThresholds:
    def test_tuning_finds_low_threshold(self):
        rng = np.random.default_rng(0)
        n = 200
        labels = np.zeros((n, 3), bool)
        labels[: n // 2, 0] = True      # AF
        labels[n // 2:, 2] = True       # NSR
        probs = np.zeros((n, 3))
        # AF is under-confident: positives at 0.3, negatives at 0.1 → 0.5 misses every AF.
        probs[:, 0] = np.where(labels[:, 0], 0.3, 0.1) + rng.uniform(-0.02, 0.02, n)
        probs[:, 1] = 0.05
        probs[:, 2] = np.where(labels[:, 2], 0.9, 0.2)
        base = metrics.challenge_score(labels, probs >= 0.5, THREE)
        thr = metrics.tune_thresholds(labels, probs, THREE)
        assert thr.dtype == np.float32 and thr.shape == (3,)
        assert 0.15 < thr[0] <= 0.26  # middle of the separating plateau
        tuned = metrics.challenge_score(labels, metrics.binarise(probs, thr), THREE)
        assert tuned == pytest.approx(1.0) and tuned > base

    def test_tuning_never_worse_than_start_and_fast(self):
        rng = np.random.default_rng(1)
        classes = list(scored_space().classes)
        y = rng.random((1000, 26)) < 0.1
        probs = np.clip(0.35 * y + rng.random((1000, 26)) * 0.6, 0, 1)
        t0 = time.perf_counter()
        thr = metrics.tune_thresholds(y, probs, classes)
        elapsed = time.perf_counter() - t0
        assert elapsed < 5.0
        assert (metrics.challenge_score(y, probs >= thr, classes)
                >= metrics.challenge_score(y, probs >= 0.5, classes))

    def test_f1_fallback_without_normal_class(self):
        y = np.array([[1, 0], [1, 0], [0, 1], [0, 1]], bool)
        probs = np.array([[0.3, 0.1], [0.35, 0.2], [0.1, 0.8], [0.2, 0.9]])
        thr = metrics.tune_thresholds(y, probs, [AF, AFL])
        assert metrics.macro_f1(y, probs >= thr).value == pytest.approx(1.0)


def test_evaluate_and_table():
    labels = _b([[1, 0, 0], [0, 0, 1], [1, 0, 1], [0, 1, 0]])
    probs = np.array([[0.9, 0.1, 0.2], [0.1, 0.2, 0.8], [0.7, 0.3, 0.6], [0.2, 0.9, 0.1]])
    res = metrics.evaluate(labels, probs, THREE, 0.5, abbreviations=["AF", "AFL", "NSR"])
    assert res["score"] == pytest.approx(1.0)
    assert res["auroc"] == pytest.approx(1.0)
    assert res["n"] == 4 and res["skipped"] == 0
    row = res["per_class"][0]
    assert row["abbreviation"] == "AF" and row["tp"] == 2 and row["fp"] == 0
    assert "fibrillation" in row["description"].lower()
    res = metrics.evaluate(labels[:, :2], probs[:, :2], [AF, AFL])
    assert np.isnan(res["score"])
