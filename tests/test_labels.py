import numpy as np
import pytest

from lrh_tflm.data.labels import (
    NORMAL_CLASS,
    ClassSpace,
    all_codes_space,
    scored_space,
    weights_matrix,
)


def test_scored_space_has_26_classes_with_equivalences_merged():
    s = scored_space()
    assert len(s) == 26
    assert "733534002|164909002" in s.classes
    assert NORMAL_CLASS in s.classes
    # Both members of an equivalence map onto the same class.
    assert s.index_of("733534002") == s.index_of("164909002")
    assert s.abbreviations[s.index_of("164889003")] == "AF"


def test_encode_ignores_unscored_codes():
    s = scored_space()
    v = s.encode(["164889003", "17338001", "000000"])
    assert v.sum() == 2
    assert v[s.index_of("427172004")]


def test_all_codes_space_keeps_unscored_codes():
    s = all_codes_space(["164889003", "251173003", "59118001"])
    assert s.classes[:2] == ("164889003", "713427006|59118001")
    assert "251173003" in s.classes


def test_weights_matrix_and_roundtrip():
    s = scored_space()
    w = weights_matrix(s.classes)
    assert w.shape == (26, 26)
    np.testing.assert_allclose(np.diag(w), 1.0)
    np.testing.assert_allclose(w, w.T)
    assert ClassSpace.from_dict(s.to_dict()) == s
    with pytest.raises(ValueError, match="not in the 2021 scoring"):
        weights_matrix(["999"])
