"""The prepared-data cache: contents, reuse, atomicity, strict mode, dataset-level errors."""
import os
from pathlib import Path

import numpy as np
import pytest

from lrh_tflm.config import LabelConfig, PreprocessConfig
from lrh_tflm.data import cache as cache_mod
from lrh_tflm.data.cache import load_prepared, prepare
from lrh_tflm.data.preprocess import fit_length, prepare_signal
from lrh_tflm.data.record import DatasetError, Problem, ProblemLog, Record, RecordError, RecordRef
from lrh_tflm.leads import LEADS

PRE = PreprocessConfig(fs=100.0, window=256, cache_len=400)
AF, NORMAL, UNSCORED = "164889003", "426783006", "164951009"


def make_record(name, labels=(NORMAL,), fs=500.0, seconds=5.0, leads=LEADS, age=60.0,
                sex="F", seed=None, fold=None):
    rng = np.random.default_rng(abs(hash(name)) % 2**32 if seed is None else seed)
    n = int(fs * seconds)
    sig = rng.standard_normal((len(leads), n)).astype(np.float32)
    return Record(name=name, signal=sig, fs=fs, leads=tuple(leads), labels=tuple(labels),
                  age=age, sex=sex, path=Path(f"/fake/{name}.hea"), fold=fold)


class FakeSource:
    """In-memory DataSource; a value that is a string is the reason that record fails."""

    kind = "fake"

    def __init__(self, records, spec="fake:set", listing=()):
        self.spec = spec
        self.root = Path("/fake")
        self.records = dict(records)
        self.listing = list(listing)
        self.reads = 0

    def refs(self):
        return [RecordRef(n, Path(f"/fake/{n}.hea")) for n in self.records]

    def listing_problems(self):
        return list(self.listing)

    def read(self, ref):
        self.reads += 1
        value = self.records[ref.name]
        if isinstance(value, str):
            raise RecordError(ref.name, value)
        return value


def five_records():
    return {
        "A1": make_record("A1", (AF,)),
        "A2": make_record("A2", (AF, NORMAL), fs=1000.0, seconds=3.0, age=None, sex=None),
        "A3": make_record("A3", (NORMAL,), fs=257.0, seconds=2.5),
        "A4": make_record("A4", (UNSCORED,), leads=("I", "II", "V1", "V2", "V3", "V4", "V5", "V6")),
        "A5": make_record("A5", (NORMAL,)),
    }


def test_prepare_contents(tmp_path):
    src = FakeSource(five_records())
    log = ProblemLog()
    data = prepare(src, PRE, LabelConfig(), tmp_path, problems=log, workers=1, progress=False)
    assert len(log) == 0
    assert data.names == ("A1", "A2", "A3", "A4", "A5")
    assert data.x.shape == (5, 400, 12) and data.x.dtype == np.float32
    assert isinstance(data.x, np.memmap)
    ref, n = fit_length(prepare_signal(src.records["A1"], PRE), PRE.cache_len)
    np.testing.assert_array_equal(data.x[0], ref)
    # A3: 2.5 s at 257 Hz → 250 samples at 100 Hz, zero-padded to 400.
    assert list(data.valid_len) == [400, 300, 250, 400, 400]
    assert not data.x[2, 250:].any()
    # Scored space, classes without positives dropped (min_count 1), order as weights.csv.
    assert set(data.classes.classes) == {AF, NORMAL}
    y = {c: data.y[:, i].tolist() for i, c in enumerate(data.classes.classes)}
    assert y[AF] == [True, True, False, False, False]
    assert y[NORMAL] == [False, True, True, False, True]
    np.testing.assert_array_equal(data.demo[1], np.zeros(5))
    np.testing.assert_allclose(data.demo[0], [0.6, 1, 0, 1, 1])
    assert data.folds is None
    m = data.manifest
    assert m["n_records"] == 5 and m["class_counts"] == {AF: 2, NORMAL: 3}
    assert m["leads"] == list(LEADS) and m["fs"] == 100.0
    assert m["records_without_class"] == 1
    assert (data.path / "problems.json").is_file()
    assert data.pre == PRE
    again = load_prepared(data.path)
    np.testing.assert_array_equal(again.y, data.y)


def test_prepare_parallel_matches_serial(tmp_path):
    recs = {f"R{i:02d}": make_record(f"R{i:02d}", (AF,) if i % 3 else (NORMAL,), seconds=3.0)
            for i in range(24)}
    recs["R05"] = "corrupt .mat file"
    recs["R20"] = "bad header"
    recs["R02"] = make_record("R02", seconds=0.5)
    a = prepare(FakeSource(recs), PRE, LabelConfig(), tmp_path / "a", problems=ProblemLog(),
                workers=1, progress=False)
    log = ProblemLog()
    b = prepare(FakeSource(recs), PRE, LabelConfig(), tmp_path / "b", problems=log,
                workers=2, progress=False)
    # Problems in listing order whatever order the workers finish in.
    assert [p[0] for p in log.as_pairs()] == ["R02", "R05", "R20"]
    assert a.names == b.names and len(b) == 21 and "R05" not in b.names
    np.testing.assert_array_equal(np.asarray(a.x), np.asarray(b.x))
    np.testing.assert_array_equal(a.y, b.y)


def test_cache_reused_without_reading(tmp_path):
    src = FakeSource(five_records())
    first = prepare(src, PRE, LabelConfig(), tmp_path, problems=ProblemLog(), workers=1,
                    progress=False)
    assert src.reads == 5
    second = prepare(src, PRE, LabelConfig(), tmp_path, problems=ProblemLog(), workers=1,
                     progress=False)
    assert src.reads == 5
    assert second.path == first.path
    # A different preprocessing config is a different cache.
    other = prepare(src, PreprocessConfig(fs=100.0, window=256, cache_len=300), LabelConfig(),
                    tmp_path, problems=ProblemLog(), workers=1, progress=False)
    assert src.reads == 10 and other.path != first.path and other.x.shape[1] == 300


def test_reuse_replays_problems(tmp_path):
    recs = five_records()
    recs["BAD"] = "header unreadable"
    src = FakeSource(recs, listing=[Problem("ORPHAN.mat", "signal file without a header")])
    log1 = ProblemLog()
    prepare(src, PRE, LabelConfig(), tmp_path, problems=log1, workers=1, progress=False)
    log2 = ProblemLog()
    prepare(src, PRE, LabelConfig(), tmp_path, problems=log2, workers=1, progress=False)
    assert log1.as_pairs() == log2.as_pairs() == [
        ["ORPHAN.mat", "signal file without a header"], ["BAD", "header unreadable"]]


def test_leftover_temp_folder_not_reused(tmp_path):
    src = FakeSource(five_records())
    key = cache_mod.cache_key(src, src.refs(), PRE, LabelConfig())
    # A killed run leaves a temp folder, even one with a plausible x.npy; it must be ignored.
    stale = tmp_path / f".tmp-fake-{key}-999999999-deadbeef"      # a pid that cannot run
    stale.mkdir(parents=True)
    np.save(stale / "x.npy", np.zeros((5, 400, 12), np.float32))
    data = prepare(src, PRE, LabelConfig(), tmp_path, problems=ProblemLog(), workers=1,
                   progress=False)
    assert src.reads == 5
    assert data.path == tmp_path / f"fake-{key}"
    assert data.x.any()
    # Neither this run's temp folder nor the dead process's is left behind.
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".tmp")] == []


def test_live_process_temp_folder_kept(tmp_path):
    src = FakeSource(five_records())
    key = cache_mod.cache_key(src, src.refs(), PRE, LabelConfig())
    busy = tmp_path / f".tmp-fake-{key}-{os.getpid()}-cafecafe"   # e.g. a concurrent run
    busy.mkdir(parents=True)
    prepare(src, PRE, LabelConfig(), tmp_path, problems=ProblemLog(), workers=1, progress=False)
    assert busy.is_dir()


def test_failed_build_leaves_nothing(tmp_path):
    recs = five_records()
    recs["A3"] = "truncated signal"
    src = FakeSource(recs)
    with pytest.raises(RecordError, match="A3: truncated signal"):
        prepare(src, PRE, LabelConfig(), tmp_path, problems=ProblemLog(strict=True), workers=1,
                progress=False)
    assert list(tmp_path.iterdir()) == []


def test_strict_mode_parallel_names_record(tmp_path):
    recs = {f"R{i:02d}": make_record(f"R{i:02d}", seconds=3.0) for i in range(16)}
    recs["R07"] = make_record("R07", seconds=1.0)
    with pytest.raises(RecordError) as info:
        prepare(FakeSource(recs), PRE, LabelConfig(), tmp_path,
                problems=ProblemLog(strict=True), workers=2, progress=False)
    assert info.value.record == "R07" and "too short" in info.value.reason
    assert list(tmp_path.iterdir()) == []


def test_nothing_readable(tmp_path):
    src = FakeSource({"X1": "bad gain", "X2": make_record("X2", seconds=0.5)})
    with pytest.raises(DatasetError, match=r"no readable records in fake:set: 2 skipped, "
                                           r"first problems: X1: bad gain; X2: too short"):
        prepare(src, PRE, LabelConfig(), tmp_path, problems=ProblemLog(), workers=1,
                progress=False)


def test_empty_dataset(tmp_path):
    with pytest.raises(DatasetError, match="no records found in fake:set"):
        prepare(FakeSource({}), PRE, LabelConfig(), tmp_path, problems=ProblemLog(),
                workers=1, progress=False)


def test_no_labels(tmp_path):
    src = FakeSource({"U1": make_record("U1", (UNSCORED,)), "U2": make_record("U2", ())})
    with pytest.raises(DatasetError, match="no labels in fake:set"):
        prepare(src, PRE, LabelConfig(), tmp_path, problems=ProblemLog(), workers=1,
                progress=False)


def test_all_space_and_min_count(tmp_path):
    src = FakeSource(five_records())
    data = prepare(src, PRE, LabelConfig(space="all", min_count=2), tmp_path,
                   problems=ProblemLog(), workers=1, progress=False)
    # "all" sees AF, normal and the unscored code; min_count 2 drops the single unscored one.
    assert set(data.classes.classes) == {AF, NORMAL}
    assert [d["class"] for d in data.manifest["dropped_classes"]] == [UNSCORED]


def test_official_folds_kept(tmp_path):
    recs = {f"P{i}": make_record(f"P{i}", (AF,) if i % 2 else (NORMAL,), fold=1 + i % 10)
            for i in range(12)}
    data = prepare(FakeSource(recs), PRE, LabelConfig(), tmp_path, problems=ProblemLog(),
                   workers=1, progress=False)
    assert data.folds.tolist() == [1 + i % 10 for i in range(12)]
    assert data.manifest["folds"] == list(range(1, 11))


def test_load_prepared_rejects_incomplete(tmp_path):
    with pytest.raises(DatasetError, match="not a prepared-data folder"):
        load_prepared(tmp_path)


class OwnSpaceSource(FakeSource):
    """A source with its own label vocabulary (as PTB-XL offers ``class_space``)."""

    def class_space(self, name, codes_seen=()):
        from lrh_tflm.data.labels import ClassSpace
        if name == "scored":
            return ClassSpace(("NORM", "MI", "CD"), ("NORM", "MI", "CD"))
        raise DatasetError(f"label space {name!r} does not fit {self.spec}")


def test_source_label_space_used(tmp_path):
    recs = {"P1": make_record("P1", ("NORM",)), "P2": make_record("P2", ("MI", "NORM")),
            "P3": make_record("P3", ("MI",))}
    data = prepare(OwnSpaceSource(recs), PRE, LabelConfig(), tmp_path, problems=ProblemLog(),
                   workers=1, progress=False)
    assert data.classes.classes == ("NORM", "MI")          # CD has no positives: dropped
    assert data.y.tolist() == [[True, False], [True, True], [False, True]]
    with pytest.raises(DatasetError, match="does not fit"):
        prepare(OwnSpaceSource(recs), PRE, LabelConfig(space="rhythm"), tmp_path,
                problems=ProblemLog(), workers=1, progress=False)
