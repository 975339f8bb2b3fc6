"""Spec strings → data sources: prefixes, auto-detection, the synthetic set, errors."""
from __future__ import annotations

import pickle
from pathlib import Path

import pytest

import lrh_tflm.data.synthetic as synthetic
from lrh_tflm.config import SynthConfig
from lrh_tflm.data.challenge import ChallengeSource
from lrh_tflm.data.csvlist import CsvListSource
from lrh_tflm.data.ptbxl import PTBXLSource
from lrh_tflm.data.record import DatasetError
from lrh_tflm.data.sources import describe_source, open_source

from test_ptbxl import make_ptbxl  # tests/ is on sys.path (pytest prepend mode)


@pytest.fixture
def challenge_dir(copy_sample, tmp_path):
    folder = tmp_path / "chal"
    copy_sample("cinc2021", "JS20000", dest=folder / "sub")
    copy_sample("cinc2021", "E07500", dest=folder)
    return folder


def test_challenge_prefix_and_bare_folder(challenge_dir):
    for spec in (f"challenge:{challenge_dir}", str(challenge_dir)):
        source = open_source(spec)
        assert isinstance(source, ChallengeSource) and source.kind == "challenge"
        assert [r.name for r in source.refs()] == ["E07500", "JS20000"]
        assert source.spec == f"challenge:{challenge_dir.resolve()}"
    assert describe_source(source) == f"Challenge folder {challenge_dir.resolve()}: 2 records"


def test_require_labels_flows_down_and_changes_the_spec(samples_dir):
    folder = samples_dir / "cinc2020-unlabeled"
    source = open_source(str(folder), require_labels=False)
    assert source.read(source.refs()[0]).labels == ()
    assert source.spec != open_source(str(folder)).spec
    assert describe_source(source).endswith("16 records, labels not required")


def test_ptbxl_prefix_and_detection(tmp_path):
    root = make_ptbxl(tmp_path / "ptbxl")
    source = open_source(str(root), ptbxl_labels="rhythm", ptbxl_rate=100)
    assert isinstance(source, PTBXLSource)
    assert (source.label_set, source.rate) == ("rhythm", 100)
    assert source.read(source.refs()[0]).labels == ("SR",)
    assert source.spec == f"ptbxl:{root.resolve()}?labels=rhythm&rate=100"
    assert open_source(f"ptbxl:{root}").spec == f"ptbxl:{root.resolve()}?labels=superdiagnostic&rate=500"
    assert describe_source(source) == f"PTB-XL in {root.resolve()} (rhythm labels, 100 Hz): 6 records"


def test_csv_prefix_and_detection(challenge_dir, tmp_path):
    lst = tmp_path / "list.csv"
    lst.write_text("path,labels\nchal/E07500,426783006\n")
    for spec in (f"csv:{lst}", str(lst)):
        source = open_source(spec)
        assert isinstance(source, CsvListSource)
        assert source.read(source.refs()[0]).labels == ("426783006",)
    assert describe_source(source) == f"CSV list {lst.resolve()}: 1 record"


def test_synthetic_uses_ensure_dataset(monkeypatch, challenge_dir, tmp_path):
    calls = []

    def fake_ensure(cache_dir, cfg, progress=True, workers=None):
        calls.append((cache_dir, cfg, progress))
        return challenge_dir

    monkeypatch.setattr(synthetic, "ensure_dataset", fake_ensure)
    cfg = SynthConfig(records=2)
    source = open_source("synthetic", cache_dir=tmp_path / "cache", synth=cfg, progress=False)
    assert calls == [(tmp_path / "cache", cfg, False)]
    assert isinstance(source, ChallengeSource)
    assert len(source.refs()) == 2
    assert source.spec.startswith("synthetic:")
    assert describe_source(source).startswith("synthetic Challenge-format set in ")


def test_synthetic_for_real_is_readable(tmp_path):
    source = open_source("synthetic", cache_dir=tmp_path, synth=SynthConfig(records=6, seconds=4.0),
                         progress=False)
    refs = source.refs()
    assert len(refs) == 6 and source.listing_problems() == []
    rec = source.read(refs[0])
    assert rec.signal.shape == (12, 2000) and rec.labels
    again = open_source("synthetic", cache_dir=tmp_path, synth=SynthConfig(records=6, seconds=4.0),
                        progress=False)
    assert again.spec == source.spec
    clone = pickle.loads(pickle.dumps(source))
    assert clone.read(refs[1]).name == refs[1].name


def test_synthetic_needs_a_cache_dir():
    with pytest.raises(DatasetError, match="cache folder"):
        open_source("synthetic")


@pytest.mark.parametrize("spec,message", [
    ("hdf5:/somewhere", "unknown data spec prefix 'hdf5'"),
    ("/no/such/folder", "does not exist"),
    ("challenge:/no/such/folder", "does not exist"),
    ("ptbxl:", "give a path after 'ptbxl:'"),
    ("", "empty data spec"),
])
def test_bad_specs(spec, message):
    with pytest.raises(DatasetError, match=message):
        open_source(spec)


def test_empty_folder(tmp_path):
    (tmp_path / "README.txt").write_text("no ECGs here")
    with pytest.raises(DatasetError, match="no records found in"):
        open_source(str(tmp_path))
    with pytest.raises(DatasetError, match="no records found in"):
        open_source(f"challenge:{tmp_path}")


def test_unrecognised_file(tmp_path):
    f = tmp_path / "signal.edf"
    f.write_bytes(b"0")
    with pytest.raises(DatasetError, match="cannot tell how to read"):
        open_source(str(f))


def test_wrong_kind_of_path(tmp_path):
    f = tmp_path / "x.csv"
    f.write_text("path,labels\n")
    with pytest.raises(DatasetError, match="not a folder"):
        open_source(f"challenge:{f}")
    with pytest.raises(DatasetError, match="not a file"):
        open_source(f"csv:{Path(tmp_path)}")
