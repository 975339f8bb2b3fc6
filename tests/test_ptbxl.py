"""The PTB-XL reader on a small PTB-XL-shaped folder written with wfdb."""
from __future__ import annotations

import csv
import pickle

import numpy as np
import pytest
import wfdb

from lrh_tflm.data.ptbxl import PTBXL_LABEL_SETS, PTBXLSource, official_split, ptbxl_class_space
from lrh_tflm.data.record import DatasetError, RecordError

PTBXL_LEADS = ["I", "II", "III", "AVR", "AVL", "AVF", "V1", "V2", "V3", "V4", "V5", "V6"]

# ecg_id, scp_codes, fold, age, sex
ROWS = [
    (1, "{'NORM': 100.0, 'SR': 0.0}", 3, "56.0", "1"),
    (2, "{'IMI': 80.0, 'ABQRS': 0.0, 'AFIB': 0.0}", 9, "300.0", "0"),
    (3, "{'NDT': 100.0, 'LVH': 50.0, 'SR': 0.0}", 10, "", "0"),
    (4, "{'LAFB': 100.0, 'ASMI': 15.0, 'SBRAD': 0.0}", 1, "71.0", "1"),
    (5, "{'ABQRS': 0.0, 'STACH': 0.0}", 5, "40.0", "1"),  # no superdiagnostic label
    (6, "{'NORM': 80.0, 'SARRH': 0.0}", 8, "23.0", "0"),
]

STATEMENTS = [
    # code, diagnostic, form, rhythm, diagnostic_class
    ("NORM", "1.0", "", "", "NORM"),
    ("IMI", "1.0", "", "", "MI"),
    ("ASMI", "1.0", "", "", "MI"),
    ("NDT", "1.0", "1.0", "", "STTC"),
    ("LVH", "1.0", "", "", "HYP"),
    ("LAFB", "1.0", "", "", "CD"),
    ("ABQRS", "", "1.0", "", ""),
    ("SR", "", "", "1.0", ""),
    ("AFIB", "", "", "1.0", ""),
    ("SBRAD", "", "", "1.0", ""),
    ("STACH", "", "", "1.0", ""),
    ("SARRH", "", "", "1.0", ""),
]

EXPECTED_SUPER = {"00001": ("NORM",), "00002": ("MI",), "00003": ("STTC", "HYP"),
                  "00004": ("MI", "CD"), "00005": (), "00006": ("NORM",)}
EXPECTED_RHYTHM = {"00001": ("SR",), "00002": ("AFIB",), "00003": ("SR",), "00004": ("SBRAD",),
                   "00005": ("STACH",), "00006": ("SARRH",)}


def _signal(ecg_id: int, fs: int) -> np.ndarray:
    t = np.arange(fs * 2) / fs
    lead = np.arange(12)[None, :]
    return np.round(0.3 * np.sin(2 * np.pi * (1 + ecg_id * 0.1) * t[:, None] + lead) + 0.01 * lead, 3)


def make_ptbxl(root, rates=(100, 500)):
    """Write a 6-record PTB-XL-shaped folder and return its path."""
    root.mkdir(parents=True, exist_ok=True)
    for rate in rates:
        suffix = "hr" if rate == 500 else "lr"
        folder = root / f"records{rate}" / "00000"
        folder.mkdir(parents=True, exist_ok=True)
        for ecg_id, *_ in ROWS:
            wfdb.wrsamp(f"{ecg_id:05d}_{suffix}", fs=rate, units=["mV"] * 12, sig_name=PTBXL_LEADS,
                        p_signal=_signal(ecg_id, rate), fmt=["16"] * 12, adc_gain=[1000.0] * 12,
                        baseline=[0] * 12, write_dir=str(folder))
    with open(root / "ptbxl_database.csv", "w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["ecg_id", "patient_id", "age", "sex", "scp_codes", "strat_fold",
                    "filename_lr", "filename_hr"])
        for ecg_id, codes, fold, age, sex in ROWS:
            w.writerow([ecg_id, 100 + ecg_id, age, sex, codes, fold,
                        f"records100/00000/{ecg_id:05d}_lr", f"records500/00000/{ecg_id:05d}_hr"])
    with open(root / "scp_statements.csv", "w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["", "description", "diagnostic", "form", "rhythm", "diagnostic_class"])
        for code, diag, form, rhythm, cls in STATEMENTS:
            w.writerow([code, code.lower(), diag, form, rhythm, cls])
    return root


@pytest.fixture
def ptbxl_root(tmp_path):
    return make_ptbxl(tmp_path / "ptbxl")


def test_superdiagnostic_labels_folds_and_demographics(ptbxl_root):
    source = PTBXLSource(ptbxl_root, require_labels=False)
    assert source.rate == 500
    refs = source.refs()
    assert [r.name for r in refs] == ["00001", "00002", "00003", "00004", "00005", "00006"]
    records = {r.name: source.read(r) for r in refs}
    assert {n: rec.labels for n, rec in records.items()} == EXPECTED_SUPER
    assert [records[n].fold for n in sorted(records)] == [3, 9, 10, 1, 5, 8]
    assert records["00001"].sex == "F" and records["00002"].sex == "M"
    assert records["00001"].age == 56.0
    assert records["00002"].age == 90.0  # PTB-XL's 300 stands for "over 89"
    assert records["00003"].age is None
    rec = records["00004"]
    assert rec.fs == 500.0 and rec.signal.shape == (12, 1000) and rec.signal.dtype == np.float32
    assert rec.leads == ("I", "II", "III", "aVR", "aVL", "aVF", "V1", "V2", "V3", "V4", "V5", "V6")


def test_signal_matches_wfdb_rdsamp(ptbxl_root):
    source = PTBXLSource(ptbxl_root, require_labels=False)
    for ref in source.refs()[:3]:
        signal, _ = wfdb.rdsamp(str(ref.path.with_suffix("")))
        np.testing.assert_allclose(source.read(ref).signal, signal.T, atol=1e-6)
        np.testing.assert_allclose(source.read(ref).signal, _signal(int(ref.name), 500).T, atol=1e-6)


def test_rhythm_label_set(ptbxl_root):
    source = PTBXLSource(ptbxl_root, labels="rhythm")
    assert {r.name: source.read(r).labels for r in source.refs()} == EXPECTED_RHYTHM


def test_record_without_labels_of_the_set(ptbxl_root):
    source = PTBXLSource(ptbxl_root)
    ref = next(r for r in source.refs() if r.name == "00005")
    with pytest.raises(RecordError, match="no labels in the PTB-XL superdiagnostic set") as err:
        source.read(ref)
    assert err.value.record == "00005"


def test_rate_100_and_fallback(tmp_path):
    both = make_ptbxl(tmp_path / "both")
    source = PTBXLSource(both, rate=100, require_labels=False)
    assert source.rate == 100
    assert source.read(source.refs()[0]).signal.shape == (12, 200)
    only_lr = make_ptbxl(tmp_path / "lr", rates=(100,))
    source = PTBXLSource(only_lr, rate=500)
    assert source.rate == 100 and source.read(source.refs()[0]).fs == 100.0


def test_missing_record_file(ptbxl_root):
    (ptbxl_root / "records500" / "00000" / "00002_hr.dat").unlink()
    source = PTBXLSource(ptbxl_root)
    ref = next(r for r in source.refs() if r.name == "00002")
    with pytest.raises(RecordError, match="missing signal file 00002_hr.dat"):
        source.read(ref)


def test_unreadable_scp_codes_is_a_listing_problem(ptbxl_root):
    db = ptbxl_root / "ptbxl_database.csv"
    db.write_text(db.read_text().replace("{'NORM': 80.0, 'SARRH': 0.0}", "{'NORM': 80.0,"))
    source = PTBXLSource(ptbxl_root)
    assert "00006" not in [r.name for r in source.refs()]
    problems = source.listing_problems()
    assert [p.record for p in problems] == ["00006"] and "scp_codes" in problems[0].reason


def test_not_a_ptbxl_folder(tmp_path):
    (tmp_path / "records500").mkdir()
    with pytest.raises(DatasetError, match="ptbxl_database.csv not found"):
        PTBXLSource(tmp_path)


def test_no_record_folders(ptbxl_root, tmp_path):
    bare = tmp_path / "bare"
    bare.mkdir()
    (bare / "ptbxl_database.csv").write_text((ptbxl_root / "ptbxl_database.csv").read_text())
    with pytest.raises(DatasetError, match="no records500/ or records100/"):
        PTBXLSource(bare)


def test_class_spaces_and_official_split():
    space = ptbxl_class_space("superdiagnostic")
    assert space.classes == ("NORM", "MI", "STTC", "CD", "HYP") == space.abbreviations
    assert list(space.encode(("MI", "HYP"))) == [False, True, False, False, True]
    assert ptbxl_class_space("rhythm").classes == PTBXL_LABEL_SETS["rhythm"]
    with pytest.raises(ValueError, match="unknown PTB-XL label set"):
        ptbxl_class_space("form")
    assert [official_split(f) for f in range(1, 11)] == ["train"] * 8 + ["val", "test"]
    with pytest.raises(ValueError):
        official_split(11)


def test_source_and_refs_pickle(ptbxl_root):
    source = PTBXLSource(ptbxl_root)
    clone = pickle.loads(pickle.dumps(source))
    ref = pickle.loads(pickle.dumps(source.refs()[0]))
    assert clone.read(ref).labels == ("NORM",)


def test_class_space_for_the_cache(ptbxl_root):
    source = PTBXLSource(ptbxl_root, labels="rhythm")
    assert source.class_space("scored").classes == PTBXL_LABEL_SETS["rhythm"]
    assert source.class_space("rhythm").classes == PTBXL_LABEL_SETS["rhythm"]
    assert source.class_space("all", {"AFIB", "SR"}).classes == ("SR", "AFIB")
    with pytest.raises(DatasetError, match="carry rhythm labels"):
        source.class_space("superdiagnostic")
