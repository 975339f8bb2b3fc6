"""Removing skipped records' rows from the prepared signal file, in place."""
from __future__ import annotations

import numpy as np
import pytest

from lrh_tflm.data import cache as cache_mod
from lrh_tflm.data.cache import compact_rows


@pytest.mark.parametrize("n, keep", [
    (10, [0, 1, 2, 5, 6, 9]), (10, [3]), (10, []), (7, [1, 2, 3, 4, 5, 6]), (600, "random"),
    (1000, list(range(999))),
])
@pytest.mark.parametrize("version", [(1, 0), (2, 0)])
def test_compact_rows_keeps_exactly_the_kept_rows(tmp_path, monkeypatch, n, keep, version):
    monkeypatch.setattr(cache_mod, "_COPY_ROWS", 7)  # several blocks per run of rows
    rng = np.random.default_rng(n)
    a = rng.normal(size=(n, 5, 3)).astype(np.float32)
    keep = np.flatnonzero(rng.random(n) > 0.3) if keep == "random" else np.asarray(keep, int)
    path = tmp_path / "x.npy"
    with open(path, "wb") as fh:
        np.lib.format.write_array(fh, a, version=version)
    compact_rows(path, keep)
    b = np.load(path)
    np.testing.assert_array_equal(b, a[keep])
    assert path.stat().st_size == _npy_size(b, version)  # truncated, nothing left behind


def _npy_size(arr, version) -> int:
    import io

    buf = io.BytesIO()
    np.lib.format.write_array(buf, arr, version=version)
    return len(buf.getvalue())


def test_compact_rows_falls_back_to_a_copy_when_the_header_changes_length(tmp_path, monkeypatch):
    a = np.arange(40, dtype=np.float32).reshape(10, 4)
    path = tmp_path / "x.npy"
    np.save(path, a)
    real = np.lib.format.write_array_header_1_0

    def longer(fh, d):  # a header one alignment block longer than the file's
        real(fh, {**d, "shape": d["shape"]})
        fh.write(b" " * 64)

    monkeypatch.setattr(np.lib.format, "write_array_header_1_0", longer)
    compact_rows(path, np.array([1, 3, 8]))
    monkeypatch.undo()
    np.testing.assert_array_equal(np.load(path), a[[1, 3, 8]])
    assert not list(tmp_path.glob("*.compact"))


def test_compact_rows_refuses_unsorted_indices(tmp_path):
    path = tmp_path / "x.npy"
    np.save(path, np.zeros((4, 2), np.float32))
    with pytest.raises(ValueError, match="ascending"):
        compact_rows(path, np.array([2, 1]))
