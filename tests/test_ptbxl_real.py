"""The PTB-XL reader on the real PTB-XL 1.0.3 (``../shared/data/ptb-xl``).

* the whole table (21,799 rows, listed without their signals): every record listed, label
  counts per task and split, and the scored mapping against the Challenge organisers' own
  (their PTB-XL counts and their ``HR*`` records);
* a slice of real records unpacked with ``unpack.py --limit``: read, prepared, inspected
  through the CLI, and one smoke build.

Without ``../shared`` these tests are skipped; with ``CI=true`` they fail instead.
"""
from __future__ import annotations

import csv
import json
import lzma
import shutil
import subprocess
import sys
from collections import Counter
from pathlib import Path

import numpy as np
import pytest
import wfdb

from lrh_tflm.config import LabelConfig, get_profile
from lrh_tflm.data.cache import prepare
from lrh_tflm.data.challenge import read_header
from lrh_tflm.data.labels import scored_space
from lrh_tflm.data.ptbxl import PTBXL_LABEL_SETS, PTBXLSource, ptbxl_class_space
from lrh_tflm.data.record import ProblemLog
from lrh_tflm.data.sources import open_source

from conftest import SAMPLES_DIR, SHARED_DIR, require_shared, run_cli

PTBXL_DIR = SHARED_DIR / "data" / "ptb-xl"
#: Records in the unpacked slice (the first ones by ecg_id).
SLICE = 300


@pytest.fixture(scope="session")
def ptbxl_shared() -> Path:
    return require_shared(PTBXL_DIR / "unpack.py")


@pytest.fixture(scope="session")
def ptbxl_table(ptbxl_shared, tmp_path_factory) -> Path:
    """The full PTB-XL table with an empty ``records100/``: enough to list every record."""
    root = tmp_path_factory.mktemp("ptbxl_table")
    with lzma.open(PTBXL_DIR / "ptbxl_database.csv.xz", "rb") as src, \
            open(root / "ptbxl_database.csv", "wb") as dst:
        shutil.copyfileobj(src, dst)
    shutil.copyfile(PTBXL_DIR / "scp_statements.csv", root / "scp_statements.csv")
    (root / "records100").mkdir()
    return root


@pytest.fixture(scope="session")
def ptbxl_slice(ptbxl_shared, tmp_path_factory) -> Path:
    """The first :data:`SLICE` real records, unpacked (and SHA-256 checked) by ``unpack.py``."""
    root = tmp_path_factory.mktemp("ptbxl_slice")
    subprocess.run([sys.executable, str(ptbxl_shared), str(root), "--limit", str(SLICE)],
                   check=True, capture_output=True, text=True, timeout=300)
    return root


@pytest.fixture(scope="session")
def full_source(ptbxl_table) -> PTBXLSource:
    return PTBXLSource(ptbxl_table, rate=100)


# ------------------------------------------------------------------ the whole table

def test_every_record_of_the_table_is_listed(full_source):
    refs = full_source.refs()
    assert len(refs) == 21_799 and full_source.listing_problems() == []
    assert len({r.name for r in refs}) == len(refs)
    folds = Counter(r.get("fold") for r in refs)
    # The official fold sizes (README of the shared folder).
    assert [folds[f] for f in range(1, 11)] == [2175, 2181, 2192, 2174, 2174, 2173, 2176, 2173,
                                                2183, 2198]
    assert Counter(r.get("sex") for r in refs) == {"M": 11_354, "F": 10_445}  # 0 male, 1 female
    ages = [r.get("age") for r in refs]
    assert sum(a is None for a in ages) == 89
    assert max(a for a in ages if a is not None) == 90.0
    assert sum(a == 90.0 for a in ages) == 204  # the 204 records stored as 300 ("over 89")
    assert all(r.path == full_source.root / "records100" / f"{r.name[:2]}000" / f"{r.name}_lr.hea"
               for r in refs)


#: Records with ≥ 1 label of each task per split (train = folds 1–8, val = 9, test = 10).
FULL_LABELLED = {
    "all": (17_418, 2_183, 2_198),
    "diagnostic": (17_084, 2_146, 2_158),
    "subdiagnostic": (17_084, 2_146, 2_158),
    "superdiagnostic": (17_084, 2_146, 2_158),
    "form": (7_197, 901, 880),
    "rhythm": (16_832, 2_100, 2_098),
    "scored": (17_254, 2_146, 2_166),
}


@pytest.mark.parametrize("label_set", sorted(FULL_LABELLED))
def test_label_counts_per_task_on_the_full_table(full_source, label_set):
    counts = full_source.with_labels(label_set).label_counts()
    assert tuple(counts["labelled"].values()) == FULL_LABELLED[label_set]
    # Every class of every task has training records (the benchmark's 71/44/23/5/19/12).
    assert list(counts["classes"]) == list(ptbxl_class_space(label_set).classes)
    assert all(n["train"] > 0 for n in counts["classes"].values())


def test_superdiagnostic_and_rhythm_counts(full_source):
    classes = full_source.with_labels("superdiagnostic").label_counts()["classes"]
    assert {c: sum(n.values()) for c, n in classes.items()} == \
        {"NORM": 9514, "MI": 5469, "STTC": 5235, "CD": 4898, "HYP": 2649}
    rhythm = full_source.with_labels("rhythm").label_counts()["classes"]
    # SR has likelihood 0 in every one of its records: counted all the same.
    assert sum(rhythm["SR"].values()) == 16_748


def _challenge_ptbxl_counts() -> dict[str, int]:
    """PTB-XL records per scored class in the Challenge's own mapping table (its PTB-XL
    1.0.1, 21,837 records), equivalent codes summed into their scored class."""
    from importlib import resources

    text = resources.files("lrh_tflm").joinpath("resources", "dx_mapping_scored.csv").read_text()
    space = scored_space()
    out: Counter = Counter()
    for row in csv.DictReader(text.splitlines()):
        out[space.classes[space.index_of(row["SNOMEDCTCode"])]] += int(row["PTB_XL"])
    return dict(out)


def test_scored_counts_match_the_challenge_mapping(full_source):
    mine = {c: sum(n.values()) for c, n in
            full_source.with_labels("scored").label_counts()["classes"].items()}
    theirs = _challenge_ptbxl_counts()
    # The same classes are present ...
    assert set(mine) == {c for c, n in theirs.items() if n > 0}
    # ... with the same counts up to the 1.0.2/1.0.3 changes (38 records dropped, 16
    # relabelled) and records carrying two codes of one merged class.
    off = {c: (mine[c], theirs[c]) for c in mine
           if abs(mine[c] - theirs[c]) > min(54, max(5, 0.01 * theirs[c]))}
    assert off == {}


def test_hr_records_match_the_organisers_dx(full_source):
    """The scored mapping against the Challenge's own SNOMED Dx of the same PTB-XL ECGs."""
    require_shared(SAMPLES_DIR)
    scored = full_source.with_labels("scored")
    by_name = {r.name: r for r in scored.refs()}
    challenge = scored_space()
    compared, report = 0, []
    for hea in sorted(SAMPLES_DIR.rglob("HR*.hea")):
        header = read_header(hea)
        ref = by_name[f"{int(hea.stem[2:]):05d}"]  # HR00001 is ecg_id 1
        # Demographics agree for every HR record, labelled or not.
        assert (header.sex, header.age) == (ref.get("sex"), ref.get("age")), hea.name
        if not header.dx:
            continue  # the unlabelled Challenge records have an empty Dx
        # Their Dx also holds unscored codes (MI, ST changes, …): compare the scored classes.
        theirs = {challenge.classes[i] for i in map(challenge.index_of, header.dx)
                  if i is not None}
        mine = {challenge.classes[challenge.index_of(c)] for c in ref.get("labels")}
        report.append((hea.stem, ref.get("scp_codes"), sorted(theirs), sorted(mine)))
        compared += 1
        assert mine == theirs, report[-1]
    assert compared >= 12, report


# ------------------------------------------------------------------ real records

def test_reader_reads_every_record_of_the_slice(ptbxl_slice):
    source = open_source(f"ptbxl:{ptbxl_slice}?rate=100&require_labels=0")
    refs = source.refs()
    assert len(refs) == SLICE and source.listing_problems() == []
    first = source.read(refs[0])
    assert first.name == "00001" and first.fs == 100.0 and first.signal.shape == (12, 1000)
    assert first.labels == ("NORM",) and (first.age, first.sex, first.fold) == (56.0, "F", 3)
    for ref in refs[:: SLICE // 10]:
        rec = source.read(ref)
        assert rec.signal.shape == (12, 1000) and rec.signal.dtype == np.float32
        expected, _ = wfdb.rdsamp(str(ref.path.with_suffix("")))
        np.testing.assert_allclose(rec.signal, expected.T, atol=1e-6)
    for label_set in PTBXL_LABEL_SETS:
        relabelled = source.with_labels(label_set)
        assert all(relabelled.read(r).labels == r.get("labels") for r in relabelled.refs()[:20])


@pytest.mark.parametrize("space", ["superdiagnostic", "rhythm", "form", "all", "scored",
                                   "superdiagnostic+rhythm"])
def test_prepare_the_slice_in_each_label_space(ptbxl_slice, tmp_path, space):
    source = open_source(f"ptbxl:{ptbxl_slice}", ptbxl_rate=100)
    pre = get_profile("default").data
    log = ProblemLog()
    data = prepare(source, pre, LabelConfig(space=space), tmp_path, problems=log, workers=2,
                   progress=False)
    counts = source.with_labels(space).label_counts()
    assert len(data) == sum(counts["labelled"].values())
    assert len(log) == SLICE - len(data)
    assert all(p.reason == f"no labels in the PTB-XL {space} set" for p in log)
    assert data.x.shape == (len(data), pre.cache_len, 12) and data.y.any(axis=1).all()
    assert data.classes.classes == tuple(c for c, n in counts["classes"].items()
                                         if sum(n.values()) > 0)
    assert set(data.folds.tolist()) == set(range(1, 11))


def test_data_inspect_cli_on_real_records(ptbxl_slice, tmp_path):
    res = run_cli(["data", "inspect", f"ptbxl:{ptbxl_slice}?labels=rhythm&rate=100", "--json",
                   "--no-progress", "--workers", "2"], cache=tmp_path / "cache", check=True)
    summary = json.loads(res.stdout)
    labelled = sum(PTBXLSource(ptbxl_slice, labels="rhythm", rate=100)
                   .label_counts()["labelled"].values())
    assert summary["records"] == labelled and summary["listed"] == SLICE
    assert summary["fs"] == {"100": labelled}
    assert len(summary["problems"]) == SLICE - labelled
    assert {c["code"] for c in summary["labels"]} <= set(PTBXL_LABEL_SETS["rhythm"])


@pytest.mark.slow
def test_smoke_build_on_real_records(ptbxl_slice, tmp_path):
    """Every stage of a build on real records (superdiagnostic: all five classes have
    validation and test records in the slice)."""
    out = tmp_path / "build"
    res = run_cli(["build", "--profile", "smoke", "--leads", "2", "--data",
                   f"ptbxl:{ptbxl_slice}?labels=superdiagnostic&rate=100", "--out", out,
                   "--quiet", "--workers", "1"], cache=tmp_path / "cache", check=True)
    assert list(out.rglob("*.tflite")), res.stdout
    manifests = [json.loads(p.read_text()) for p in (tmp_path / "cache").rglob("manifest.json")]
    assert [m["spec"] for m in manifests] == \
        [f"ptbxl:{ptbxl_slice.resolve()}?labels=superdiagnostic&rate=100"]
    assert manifests[0]["classes"]["classes"] == ["NORM", "MI", "STTC", "CD", "HYP"]
    assert manifests[0]["n_listed"] == SLICE
    # The model card names the records as they were prepared (label set included).
    card = json.loads((out / "report" / "model_card.json").read_text())
    assert card["data"]["spec"] == manifests[0]["spec"]


def test_batched_preprocessing_equals_one_record_at_a_time(ptbxl_slice):
    """Workers preprocess a chunk together; every record must come out as alone."""
    from lrh_tflm.data.preprocess import prepare_signal, prepare_signals

    source = open_source(f"ptbxl:{ptbxl_slice}?rate=100&require_labels=0")
    records = [source.read(r) for r in source.refs()[:40]]
    flat = records[3]
    # Record 3 with every lead flat (it fails), record 5 with a flat lead I among live ones
    # (kept, lead I as zeros): the others come out as they do alone.
    records[3] = type(flat)(**{**flat.__dict__, "signal": flat.signal * 0.0})
    live = records[5]
    records[5] = type(live)(**{**live.__dict__,
                               "signal": live.signal * np.r_[[0.0], [1.0] * 11][:, None]})
    for profile in ("default", "smoke"):
        pre = get_profile(profile).data
        batched = prepare_signals(records, pre)
        assert "flat line in lead(s)" in str(batched[3])
        assert not isinstance(batched[5], Exception)
        for rec, got in zip(records[:3] + records[4:], batched[:3] + batched[4:]):
            np.testing.assert_array_equal(got, prepare_signal(rec, pre))
