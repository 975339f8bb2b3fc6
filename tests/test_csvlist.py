"""The CSV-list reader on WFDB records written with wfdb and on a real Challenge .mat record."""
from __future__ import annotations

import numpy as np
import pytest
import wfdb

from lrh_tflm.data.csvlist import CsvListSource
from lrh_tflm.data.record import DatasetError, RecordError


def _write(folder, name, fs=250, leads=("I", "II"), fmt="16", seconds=2, comments=None):
    folder.mkdir(parents=True, exist_ok=True)
    t = np.arange(int(fs * seconds)) / fs
    sig = np.round(np.stack([np.sin(2 * np.pi * (k + 1) * t) * 0.5 for k in range(len(leads))], 1), 3)
    wfdb.wrsamp(name, fs=fs, units=["mV"] * len(leads), sig_name=list(leads), p_signal=sig,
                fmt=[fmt] * len(leads), comments=comments or [], write_dir=str(folder))
    return sig


@pytest.fixture
def listed(tmp_path):
    sig_a = _write(tmp_path / "recs", "a01", fmt="16", comments=["Age: 70", "Sex: Female"])
    sig_b = _write(tmp_path / "recs", "b02", fs=360, leads=("II", "V5"), fmt="212")
    (tmp_path / "list.csv").write_text(
        "path,labels,age,sex,fold\n"
        "recs/a01,164889003;426783006,,,2\n"
        f"{tmp_path / 'recs' / 'b02.hea'},164889003 59118001,45,M,\n")
    return tmp_path / "list.csv", sig_a, sig_b


def test_reads_listed_wfdb_records(listed):
    path, sig_a, sig_b = listed
    source = CsvListSource(path)
    refs = source.refs()
    assert [r.name for r in refs] == ["a01", "b02"]
    a, b = (source.read(r) for r in refs)
    assert a.labels == ("164889003", "426783006") and a.fold == 2
    assert (a.age, a.sex) == (70.0, "F")  # from the header comments: the row leaves them empty
    assert (b.age, b.sex, b.fold) == (45.0, "M", None)
    assert b.labels == ("164889003", "59118001")
    assert a.leads == ("I", "II") and b.leads == ("II", "V5") and b.fs == 360.0
    np.testing.assert_allclose(a.signal, sig_a.T, atol=1e-3)
    np.testing.assert_allclose(b.signal, wfdb.rdsamp(str(path.parent / "recs" / "b02"))[0].T, atol=1e-6)


def test_reads_challenge_mat_records(copy_sample, tmp_path):
    hea = copy_sample("cinc2021", "JS20000", dest=tmp_path / "c")
    (tmp_path / "l.csv").write_text("path,labels\nc/JS20000.mat,426783006\n")
    rec = CsvListSource(tmp_path / "l.csv").read(CsvListSource(tmp_path / "l.csv").refs()[0])
    assert rec.labels == ("426783006",)  # the list's labels, not the header's Dx
    assert rec.signal.shape == (12, 5000) and rec.path == hea


def test_missing_record_file_is_a_record_error(tmp_path):
    (tmp_path / "l.csv").write_text("path,labels\nnowhere/x9,1\n")
    source = CsvListSource(tmp_path / "l.csv")
    with pytest.raises(RecordError, match="not found") as err:
        source.read(source.refs()[0])
    assert err.value.record == "x9"


def test_empty_labels(listed):
    path, *_ = listed
    path.write_text("path,labels\nrecs/a01,\n")
    with pytest.raises(RecordError, match="no labels"):
        CsvListSource(path).read(CsvListSource(path).refs()[0])
    assert CsvListSource(path, require_labels=False).read(CsvListSource(path).refs()[0]).labels == ()


def test_bad_rows_are_listing_problems(listed):
    path, *_ = listed
    path.write_text("path,labels,age,sex,fold\nrecs/a01,1,old,,\nrecs/b02,1,,X,\n"
                    "recs/a01,1,,,one\n,1,,,\nrecs/b02,2,,,\nrecs/b02,3,,,\n")
    source = CsvListSource(path)
    # A bad age or sex keeps the row, that field unknown, with a warning on the record.
    assert [r.name for r in source.refs()] == ["a01", "b02"]
    a01, b02 = (source.read(r) for r in source.refs())
    assert a01.age is None and any("age 'old'" in n for n in a01.notes)
    assert b02.sex is None and any("sex 'X'" in n for n in b02.notes)
    reasons = [p.reason for p in source.listing_problems()]
    assert not any("age 'old'" in r or "sex 'X'" in r for r in reasons)
    assert any("fold 'one'" in r for r in reasons)
    assert any("empty path" in r for r in reasons)
    assert any("listed twice" in r for r in reasons)


def test_header_row_is_required(tmp_path):
    (tmp_path / "l.csv").write_text("recs/a01,1\n")
    with pytest.raises(DatasetError, match="header row with columns path,labels"):
        CsvListSource(tmp_path / "l.csv")


def test_missing_or_empty_list(tmp_path):
    with pytest.raises(DatasetError, match="does not exist"):
        CsvListSource(tmp_path / "nope.csv")
    (tmp_path / "empty.csv").write_text("path,labels\n")
    with pytest.raises(DatasetError, match="no records found"):
        CsvListSource(tmp_path / "empty.csv")
