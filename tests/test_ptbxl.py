"""The PTB-XL reader on a small PTB-XL-shaped folder written with wfdb.

The real table (all 21,799 records) and real records are tested in ``test_ptbxl_real.py``.
"""
from __future__ import annotations

import csv
import pickle

import numpy as np
import pytest
import wfdb

from lrh_tflm.data.labels import scored_space
from lrh_tflm.data.ptbxl import (
    PTBXL_LABEL_SETS,
    PTBXLSource,
    official_split,
    ptbxl_class_space,
    snomed_table,
)
from lrh_tflm.data.record import DatasetError, RecordError

PTBXL_LEADS = ["I", "II", "III", "AVR", "AVL", "AVF", "V1", "V2", "V3", "V4", "V5", "V6"]

# ecg_id, scp_codes, fold, age, sex, heart_axis
ROWS = [
    (1, "{'NORM': 100.0, 'SR': 0.0}", 3, "56.0", "1", ""),
    (2, "{'IMI': 80.0, 'ABQRS': 0.0, 'AFIB': 0.0}", 9, "300.0", "0", "LAD"),
    (3, "{'NDT': 100.0, 'LVH': 50.0, 'SR': 0.0}", 10, "", "0", "MID"),
    (4, "{'LAFB': 100.0, 'ASMI': 15.0, 'SBRAD': 0.0}", 1, "71.0", "1", "ALAD"),
    (5, "{'ABQRS': 0.0, 'STACH': 0.0}", 5, "40.0", "1", "ARAD"),  # no superdiagnostic label
    (6, "{'NORM': 80.0, 'SARRH': 0.0}", 8, "23.0", "0", ""),
]

STATEMENTS = [
    # code, diagnostic, form, rhythm, diagnostic_class, diagnostic_subclass
    ("NORM", "1.0", "", "", "NORM", "NORM"),
    ("IMI", "1.0", "", "", "MI", "IMI"),
    ("ASMI", "1.0", "", "", "MI", "AMI"),
    ("NDT", "1.0", "1.0", "", "STTC", "STTC"),
    ("NST_", "1.0", "1.0", "", "STTC", "NST_"),  # on no record; makes STTC ≠ subclass STTC
    ("LVH", "1.0", "", "", "HYP", "LVH"),
    ("LAFB", "1.0", "", "", "CD", "LAFB/LPFB"),
    ("ABQRS", "", "1.0", "", "", ""),
    ("SR", "", "", "1.0", "", ""),
    ("AFIB", "", "", "1.0", "", ""),
    ("SBRAD", "", "", "1.0", "", ""),
    ("STACH", "", "", "1.0", "", ""),
    ("SARRH", "", "", "1.0", "", ""),
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
        w.writerow(["ecg_id", "patient_id", "age", "sex", "scp_codes", "heart_axis",
                    "strat_fold", "filename_lr", "filename_hr"])
        for ecg_id, codes, fold, age, sex, axis in ROWS:
            w.writerow([ecg_id, 100 + ecg_id, age, sex, codes, axis, fold,
                        f"records100/00000/{ecg_id:05d}_lr", f"records500/00000/{ecg_id:05d}_hr"])
    with open(root / "scp_statements.csv", "w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["", "description", "diagnostic", "form", "rhythm", "diagnostic_class",
                    "diagnostic_subclass"])
        for code, diag, form, rhythm, cls, sub in STATEMENTS:
            w.writerow([code, code.lower(), diag, form, rhythm, cls, sub])
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
        ptbxl_class_space("forms")
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


# ------------------------------------------------------------------ every label set

EXPECTED = {
    "all": {"00001": ("NORM", "SR"), "00002": ("IMI", "ABQRS", "AFIB"),
            "00003": ("NDT", "LVH", "SR"), "00004": ("ASMI", "LAFB", "SBRAD"),
            "00005": ("ABQRS", "STACH"), "00006": ("NORM", "SARRH")},
    "diagnostic": {"00001": ("NORM",), "00002": ("IMI",), "00003": ("NDT", "LVH"),
                   "00004": ("ASMI", "LAFB"), "00005": (), "00006": ("NORM",)},
    "subdiagnostic": {"00001": ("NORM",), "00002": ("IMI",), "00003": ("STTC", "LVH"),
                      "00004": ("AMI", "LAFB/LPFB"), "00005": (), "00006": ("NORM",)},
    "superdiagnostic": EXPECTED_SUPER,
    "form": {"00001": (), "00002": ("ABQRS",), "00003": ("NDT",), "00004": (),
             "00005": ("ABQRS",), "00006": ()},
    "rhythm": EXPECTED_RHYTHM,
    # NSR from SR and NORM, AF, LAD/RAD from heart_axis (ALAD, ARAD too), LAnFB, SB, STach,
    # SA, TAb from NDT — in weights.csv order.
    "scored": {"00001": ("426783006",), "00002": ("164889003", "39732003"),
               "00003": ("426783006", "164934002"),
               "00004": ("39732003", "445118002", "426177001"),
               "00005": ("47665007", "427084000"), "00006": ("426783006", "427393009")},
}


@pytest.mark.parametrize("label_set", sorted(EXPECTED))
def test_every_label_set_counts_every_code_whatever_its_likelihood(ptbxl_root, label_set):
    source = PTBXLSource(ptbxl_root, labels=label_set, require_labels=False)
    assert {r.name: source.read(r).labels for r in source.refs()} == EXPECTED[label_set]
    space = source.class_space(label_set)
    assert space == ptbxl_class_space(label_set)
    for labels in EXPECTED[label_set].values():
        assert space.encode(labels).sum() == len(labels)  # every label is a class of the set


def test_label_set_sizes_are_the_benchmarks():
    sizes = {name: len(ptbxl_class_space(name)) for name in PTBXL_LABEL_SETS}
    assert sizes == {"all": 71, "diagnostic": 44, "subdiagnostic": 23, "superdiagnostic": 5,
                     "form": 19, "rhythm": 12, "scored": 22}
    assert set(PTBXL_LABEL_SETS["diagnostic"]) | set(PTBXL_LABEL_SETS["form"]) \
        | set(PTBXL_LABEL_SETS["rhythm"]) == set(PTBXL_LABEL_SETS["all"])


def test_scored_space_merges_the_challenge_equivalents():
    space = ptbxl_class_space("scored")
    # PAC (284470004) and SVARR's 63593006 are one scored class, as CLBBB's 164909002
    # and 733534002 are.
    assert space.index_of("284470004") == space.index_of("63593006") is not None
    assert "733534002|164909002" in space.classes
    assert space.abbreviations[space.classes.index("426783006")] == "NSR"
    # The Challenge scored classes PTB-XL never gives (the organisers map PTB-XL's PVC to
    # the unscored 164884008).
    assert not {"6374002", "426627000", "365413008", "427172004|17338001"} & set(space.classes)


def test_snomed_table_rows_are_scored_and_unique():
    rows = snomed_table()
    assert len({(r.field, r.value) for r in rows}) == len(rows) == 29
    scored = scored_space()
    assert all(scored.index_of(r.snomed) is not None for r in rows)
    assert {r.value for r in rows if r.field == "heart_axis"} == {"LAD", "ALAD", "RAD", "ARAD"}
    assert {r.value for r in rows if r.field == "scp_codes"} <= set(PTBXL_LABEL_SETS["all"])


def test_combined_label_sets(ptbxl_root):
    source = PTBXLSource(ptbxl_root, labels="superdiagnostic+rhythm")
    labels = {r.name: source.read(r).labels for r in source.refs()}
    assert labels == {n: EXPECTED_SUPER[n] + EXPECTED_RHYTHM[n] for n in EXPECTED_SUPER}
    assert source.class_space("superdiagnostic+rhythm").classes == \
        PTBXL_LABEL_SETS["superdiagnostic"] + PTBXL_LABEL_SETS["rhythm"]
    # Shared classes that mean the same statements are listed once ...
    assert len(ptbxl_class_space("all+rhythm")) == 71
    # ... classes that share a name but not their statements cannot be combined.
    with pytest.raises(DatasetError, match="class 'STTC' made of different statements"):
        PTBXLSource(ptbxl_root, labels="subdiagnostic+superdiagnostic")
    with pytest.raises(ValueError, match="names a set twice"):
        PTBXLSource(ptbxl_root, labels="rhythm+rhythm")


def test_label_space_picks_the_set_unless_the_spec_fixed_it(ptbxl_root):
    free = PTBXLSource(ptbxl_root)
    assert free.label_set == "superdiagnostic" and not free.label_set_explicit
    for space in ("rhythm", "form", "scored", "all", "superdiagnostic+rhythm"):
        chosen = free.for_label_space(space)
        assert chosen.label_set == space and chosen.spec.endswith(f"?labels={space}")
        assert chosen.class_space(space) == ptbxl_class_space(space)
    assert free.for_label_space("superdiagnostic") is free
    assert free.label_set == "superdiagnostic"  # relabelling made a copy
    fixed = PTBXLSource(ptbxl_root, labels="rhythm")
    assert fixed.for_label_space("scored") is fixed
    assert fixed.class_space("scored").classes == PTBXL_LABEL_SETS["rhythm"]


def test_scored_needs_the_heart_axis_column(ptbxl_root):
    db = ptbxl_root / "ptbxl_database.csv"
    rows = list(csv.DictReader(db.open()))
    with db.open("w", newline="") as fh:
        w = csv.DictWriter(fh, [k for k in rows[0] if k != "heart_axis"], extrasaction="ignore")
        w.writeheader()
        w.writerows(rows)
    PTBXLSource(ptbxl_root, labels="rhythm")
    with pytest.raises(DatasetError, match="no heart_axis column"):
        PTBXLSource(ptbxl_root, labels="scored")


def test_statements_table_without_subclasses(ptbxl_root):
    path = ptbxl_root / "scp_statements.csv"
    rows = list(csv.reader(path.open()))
    with path.open("w", newline="") as fh:
        csv.writer(fh).writerows([r[:-1] for r in rows])
    assert PTBXLSource(ptbxl_root, labels="rhythm").refs()
    with pytest.raises(DatasetError, match="lacks column.*diagnostic_subclass.*subdiagnostic"):
        PTBXLSource(ptbxl_root, labels="subdiagnostic")


# ------------------------------------------------------------------ rows that cannot be used

def _edit_rows(root, edit):
    db = root / "ptbxl_database.csv"
    rows = list(csv.DictReader(db.open()))
    rows = edit(rows)
    with db.open("w", newline="") as fh:
        w = csv.DictWriter(fh, list(rows[0]))
        w.writeheader()
        w.writerows(rows)


def test_duplicate_ecg_id_and_bad_folds_are_named_problems(ptbxl_root):
    def edit(rows):
        rows[2]["strat_fold"] = "11"
        rows[3]["strat_fold"] = "0"
        rows[4]["strat_fold"] = ""
        return rows + [dict(rows[0])]

    _edit_rows(ptbxl_root, edit)
    source = PTBXLSource(ptbxl_root, require_labels=False)
    assert [r.name for r in source.refs()] == ["00001", "00002", "00006"]
    reasons = {p.record: p.reason for p in source.listing_problems()}
    assert set(reasons) == {"00001", "00003", "00004", "00005"}
    assert reasons["00001"].startswith("duplicate ecg_id 1: ptbxl_database.csv row 8 repeats row 2")
    assert "strat_fold 11" in reasons["00003"] and "outside PTB-XL's folds 1–10" in reasons["00003"]
    assert "strat_fold 0" in reasons["00004"]
    assert "is not a fold number" in reasons["00005"]


def test_official_folds_outside_1_to_10_never_become_training_data():
    from types import SimpleNamespace

    from lrh_tflm.config import SplitConfig
    from lrh_tflm.data.splits import split_indices

    good = SimpleNamespace(folds=np.array([1, 2, 9, 10]), y=np.ones((4, 1), bool))
    assert {k: v.tolist() for k, v in split_indices(good, SplitConfig()).items()} == \
        {"train": [0, 1], "val": [2], "test": [3]}
    stray = SimpleNamespace(folds=np.array([1, 11, 9, 10]), y=np.ones((4, 1), bool))
    with pytest.raises(DatasetError, match="fold.* 11 are outside 1–10"):
        split_indices(stray, SplitConfig())


def test_label_counts_per_split(ptbxl_root):
    counts = PTBXLSource(ptbxl_root, labels="form").label_counts()
    assert counts["records"] == {"train": 4, "val": 1, "test": 1}
    assert counts["labelled"] == {"train": 1, "val": 1, "test": 1}
    assert counts["classes"]["ABQRS"] == {"train": 1, "val": 1, "test": 0}
    assert counts["classes"]["PVC"] == {"train": 0, "val": 0, "test": 0}


# ------------------------------------------------------------------ through the cache

@pytest.mark.parametrize("space, classes", [
    ("superdiagnostic", ("NORM", "MI", "STTC", "CD", "HYP")),
    ("rhythm", ("SR", "AFIB", "STACH", "SARRH", "SBRAD")),
    ("form", ("NDT", "ABQRS")),
    ("subdiagnostic", ("NORM", "STTC", "AMI", "IMI", "LVH", "LAFB/LPFB")),
    ("scored", ("164889003", "39732003", "445118002", "426783006", "427393009", "426177001",
                "427084000", "164934002", "47665007")),
    ("superdiagnostic+rhythm", ("NORM", "MI", "STTC", "CD", "HYP", "SR", "AFIB", "STACH",
                                "SARRH", "SBRAD")),
])
def test_prepare_labels_with_the_label_space(ptbxl_root, tmp_path, space, classes):
    from lrh_tflm.config import LabelConfig, PreprocessConfig
    from lrh_tflm.data.cache import prepare
    from lrh_tflm.data.record import ProblemLog
    from lrh_tflm.data.sources import open_source

    source = open_source(f"ptbxl:{ptbxl_root}", ptbxl_rate=100)
    log = ProblemLog()
    data = prepare(source, PreprocessConfig(fs=100.0, window=128, cache_len=200),
                   LabelConfig(space=space), tmp_path, problems=log, workers=1, progress=False)
    assert set(data.classes.classes) == set(classes)
    assert data.classes.classes == tuple(c for c in ptbxl_class_space(space).classes if c in classes)
    assert data.manifest["spec"].endswith(f"?labels={space}&rate=100")
    unlabelled = {n for n, ls in EXPECTED.get(space, {}).items() if not ls}
    assert {p.record for p in log} == unlabelled
    assert all(p.reason == f"no labels in the PTB-XL {space} set" for p in log)
    assert len(data) == 6 - len(unlabelled)
    assert data.folds is not None and set(data.folds.tolist()) <= set(range(1, 11))


# ------------------------------------------------------------------ spec options

def test_spec_options_choose_label_set_and_rate(ptbxl_root):
    from lrh_tflm.data.sources import open_source

    for spec in (f"ptbxl:{ptbxl_root}?labels=rhythm&rate=100", f"{ptbxl_root}?rate=100&labels=rhythm"):
        source = open_source(spec)
        assert (source.label_set, source.rate, source.label_set_explicit) == ("rhythm", 100, True)
        assert source.spec == f"ptbxl:{ptbxl_root.resolve()}?labels=rhythm&rate=100"
    # The canonical spec opens the same source again; '+' joins sets (no URL encoding).
    combo = open_source(f"ptbxl:{ptbxl_root}?labels=superdiagnostic+rhythm")
    assert combo.label_set == "superdiagnostic+rhythm"
    assert open_source(combo.spec).spec == combo.spec
    loose = open_source(f"ptbxl:{ptbxl_root}?require_labels=0&labels=form")
    assert loose.require_labels is False
    assert loose.spec.endswith("?labels=form&rate=500&require_labels=0")
    # The spec wins over the keyword; without either the label space decides later.
    assert open_source(f"ptbxl:{ptbxl_root}?labels=form", ptbxl_labels="rhythm").label_set == "form"
    assert open_source(f"ptbxl:{ptbxl_root}").label_set_explicit is False


@pytest.mark.parametrize("query, message", [
    ("labels=forms", "unknown PTB-XL label set 'forms'"),
    ("rate=250", "PTB-XL has 100 and 500 Hz records, not rate=250"),
    ("label=rhythm", "unknown option.* label .*known: labels, rate, require_labels"),
    ("labels", "is not key=value"),
    ("require_labels=maybe", "require_labels=maybe is not 0 or 1"),
])
def test_bad_spec_options(ptbxl_root, query, message):
    from lrh_tflm.data.sources import open_source

    with pytest.raises(DatasetError, match=message):
        open_source(f"ptbxl:{ptbxl_root}?{query}")


def test_label_set_of_a_saved_spec(ptbxl_root):
    from lrh_tflm.data.ptbxl import label_set_of_spec
    from lrh_tflm.data.sources import open_source

    spec = open_source(f"ptbxl:{ptbxl_root}?labels=superdiagnostic+rhythm").spec
    assert label_set_of_spec(spec) == "superdiagnostic+rhythm"
    assert label_set_of_spec(f"ptbxl:{ptbxl_root}") is None
    assert label_set_of_spec("challenge:/x?require_labels=0") is None
    assert label_set_of_spec("ptbxl:/x?labels=nonsense") is None
    # A model trained on that set is evaluated on a plain ptbxl:DIR with the same labels.
    plain = open_source(f"ptbxl:{ptbxl_root}")
    assert plain.for_label_space(label_set_of_spec(spec)).label_set == "superdiagnostic+rhythm"
