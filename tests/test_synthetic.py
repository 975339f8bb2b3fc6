"""The built-in synthetic dataset: format, determinism, physiology and the cached copy."""
from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
import scipy.io
import scipy.signal

import lrh_tflm  # noqa: F401  (environment before anything imports TensorFlow)
from lrh_tflm.config import SynthConfig
from lrh_tflm.data import synthetic as S
from lrh_tflm.data.labels import scored_space
from lrh_tflm.data.record import DatasetError
from lrh_tflm.leads import LEADS

CODE = S.CODE_BY_ABBR
CFG = SynthConfig(records=20, seed=3)


@pytest.fixture(scope="module")
def dataset(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("synth") / "ds"
    S.write_dataset(out, CFG, progress=False, workers=1)
    return out


def _files(folder: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(folder.iterdir()) if p.is_file()}


def _sim(abbrs, seed=0, cfg=SynthConfig()):
    return S.simulate(np.random.default_rng(seed), [CODE[a] for a in abbrs], cfg)


# --- classes and labels -------------------------------------------------------------------------


def test_classes_are_official_scored_codes():
    space = scored_space()
    required = {"426783006", "426177001", "427084000", "164889003", "270492004", "59118001",
                "164909002", "427172004", "39732003"}
    codes = {code for code, _ in S.CLASSES}
    assert required <= codes
    assert all(space.index_of(code) is not None for code in codes)


def test_label_prevalence_and_exclusions():
    cfg = SynthConfig(records=300, seed=0)
    draws = [S.record_labels(cfg, i) for i in range(cfg.records)]
    counts = {abbr: sum(CODE[abbr] in d for d in draws) for _, abbr in S.CLASSES}
    assert all(c >= 0.05 * cfg.records for c in counts.values()), counts
    rhythms = {CODE[a] for a in ("NSR", "SB", "STach", "AF")}
    for d in draws:
        assert len(rhythms & set(d)) == 1, d
        assert not (CODE["RBBB"] in d and CODE["LBBB"] in d), d
        assert not (CODE["AF"] in d and CODE["IAVB"] in d), d
        assert list(d) == [c for c, _ in S.CLASSES if c in d]  # canonical order, no duplicates


def test_unknown_code_is_a_clear_error():
    with pytest.raises(ValueError, match="12345"):
        S.simulate(np.random.default_rng(0), ["12345"], SynthConfig())


# --- files --------------------------------------------------------------------------------------


def test_folder_layout_and_header(dataset):
    names = (dataset / "RECORDS").read_text().split()
    assert names == [f"SYN{i:05d}" for i in range(1, CFG.records + 1)]
    for name in names:
        assert (dataset / f"{name}.hea").is_file() and (dataset / f"{name}.mat").is_file()
    lines = (dataset / "SYN00001.hea").read_text().splitlines()
    assert lines[0] == "SYN00001 12 500 5000"
    val = scipy.io.loadmat(dataset / "SYN00001.mat")["val"]
    assert val.dtype == np.int16 and val.shape == (12, 5000)
    for j, lead in enumerate(LEADS):
        f = lines[1 + j].split()
        assert f[:5] == ["SYN00001.mat", "16+24", "1000/mV", "16", "0"]
        assert int(f[5]) == val[j, 0]
        assert int(f[6]) == ((int(val[j].astype(np.int64).sum()) + 32768) % 65536) - 32768
        assert f[8] == lead
    comments = lines[13:]
    assert comments[0].startswith("# Age: ") and 18 <= int(comments[0].split()[-1]) <= 95
    assert comments[1] in ("# Sex: Male", "# Sex: Female")
    codes = comments[2].removeprefix("# Dx: ").split(",")
    assert tuple(codes) == S.record_labels(CFG, 0)
    assert comments[3:] == ["# Rx: Unknown", "# Hx: Unknown", "# Sx: Unknown"]


def test_readable_by_wfdb_and_the_project_reader(dataset):
    wfdb = pytest.importorskip("wfdb")
    header = wfdb.rdheader(str(dataset / "SYN00002"))
    assert header.sig_name == list(LEADS) and header.fs == 500 and header.sig_len == 5000
    rec = wfdb.rdrecord(str(dataset / "SYN00002"))
    val = scipy.io.loadmat(dataset / "SYN00002.mat")["val"]
    np.testing.assert_allclose(rec.p_signal.T, val / 1000.0, atol=1e-9)

    from lrh_tflm.data.challenge import read_challenge_record
    record = read_challenge_record(dataset / "SYN00002.hea")
    assert tuple(record.labels) == S.record_labels(CFG, 1)


def test_einthoven_goldberger_on_int16(dataset):
    for name in ("SYN00001", "SYN00007", "SYN00013"):
        v = scipy.io.loadmat(dataset / f"{name}.mat")["val"].astype(np.float64)
        lead = dict(zip(LEADS, v))
        # Each derived lead is rounded once from exact floats: at most 1 count off.
        assert np.abs(lead["III"] - (lead["II"] - lead["I"])).max() <= 1
        assert np.abs(lead["aVR"] + (lead["I"] + lead["II"]) / 2).max() <= 1
        assert np.abs(lead["aVL"] - (lead["I"] - lead["II"] / 2)).max() <= 1
        assert np.abs(lead["aVF"] - (lead["II"] - lead["I"] / 2)).max() <= 1
        assert np.abs(lead["V2"] - (lead["II"] - lead["I"])).max() > 10  # not a trivial check


def test_datasheet_lists_classes_and_limits(dataset):
    text = (dataset / "DATASET.md").read_text()
    for code, abbr in S.CLASSES:
        assert f"| {abbr} | {code} |" in text
    assert "not clinical evidence" in text.replace("**What it is not:** clinical", "not clinical")
    assert f"seed {CFG.seed}" in text


def test_deterministic_regardless_of_workers(dataset, tmp_path):
    again = tmp_path / "two"
    summary = S.write_dataset(again, CFG, progress=False, workers=2)
    assert summary["workers"] == 2  # really two processes, each writing its own chunk
    assert _files(again) == _files(dataset)


def test_different_seed_differs(tmp_path):
    cfg = SynthConfig(records=3, seed=3)
    S.write_dataset(tmp_path / "a", cfg, progress=False, workers=1)
    S.write_dataset(tmp_path / "b", SynthConfig(records=3, seed=4), progress=False, workers=1)
    a, b = _files(tmp_path / "a"), _files(tmp_path / "b")
    assert a["SYN00001.mat"] != b["SYN00001.mat"]


def test_refuses_a_foreign_non_empty_folder(tmp_path):
    (tmp_path / "notes.txt").write_text("mine")
    with pytest.raises(DatasetError, match="not empty"):
        S.write_dataset(tmp_path, SynthConfig(records=2), progress=False, workers=1)


def test_rewrite_replaces_earlier_records(tmp_path):
    S.write_dataset(tmp_path, SynthConfig(records=4), progress=False, workers=1)
    S.write_dataset(tmp_path, SynthConfig(records=2), progress=False, workers=1)
    assert sorted(p.stem for p in tmp_path.glob("*.hea")) == ["SYN00001", "SYN00002"]


# --- physiology (ground truth and the signal itself) --------------------------------------------


def _rate_from_lead_ii(sig: np.ndarray, fs: int = 500) -> float:
    x = scipy.signal.sosfiltfilt(scipy.signal.butter(2, (5, 30), "bandpass", fs=fs, output="sos"),
                                 sig[LEADS.index("II")].astype(np.float64))
    x = np.abs(x)
    peaks, _ = scipy.signal.find_peaks(x, height=0.4 * np.percentile(x, 99.5), distance=int(0.3 * fs))
    return 60.0 / float(np.median(np.diff(peaks) / fs))


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_heart_rates_from_r_peaks(seed):
    assert _rate_from_lead_ii(_sim(["SB"], seed).signal) < 60
    assert _rate_from_lead_ii(_sim(["STach"], seed).signal) > 100
    assert 60 <= _rate_from_lead_ii(_sim(["NSR"], seed).signal) <= 100


def test_af_is_irregular_and_sinus_is_not():
    def cv(rec):
        on = rec.truth.qrs_onsets
        rr = np.diff(on[(on >= 0) & (on < 10)])
        return rr.std() / rr.mean()
    assert min(cv(_sim(["AF"], s)) for s in range(5)) > 2 * max(cv(_sim(["NSR"], s)) for s in range(5))
    assert all(math.isnan(_sim(["AF"], s).truth.pr) for s in range(3))


def test_pr_qrs_and_axis_ground_truth():
    for s in range(5):
        assert _sim(["NSR", "IAVB"], s).truth.pr > 0.20 > _sim(["NSR"], s).truth.pr
        assert _sim(["NSR", "RBBB"], s).truth.qrs >= 0.12 > _sim(["NSR"], s).truth.qrs
        assert _sim(["NSR", "LBBB"], s).truth.qrs >= 0.12
        assert _sim(["NSR", "LAD"], s).truth.axis_deg < -30 < _sim(["NSR"], s).truth.axis_deg


def _beat_average(rec, lead: str, before=0.05, after=0.25, fs=500):
    on = rec.truth.qrs_onsets[~rec.truth.pvc]
    on = on[(on > before + 0.01) & (on < 10 - after - 0.01)]
    x = rec.signal[LEADS.index(lead)].astype(np.float64)
    segs = [x[int((t - before) * fs):int((t + after) * fs)] for t in on]
    avg = np.mean(segs, axis=0)
    return avg - np.median(avg[: int(0.03 * fs)])


def test_bundle_branch_blocks_show_in_v1_and_lead_i():
    fs = 500
    for s in range(3):
        n, r, l = (_sim(a, s) for a in (["NSR"], ["NSR", "RBBB"], ["NSR", "LBBB"]))
        # RBBB: late positive R' in V1 (80–125 ms after onset, inside every BBB's QRS), where
        # LBBB's V1 is still deep in its QS.
        late = slice(int(0.05 * fs + 0.08 * fs), int(0.05 * fs + 0.125 * fs))
        assert _beat_average(r, "V1")[late].max() > 0.3
        assert _beat_average(l, "V1")[late].max() < 0.1
        # RBBB: wide S in lead I during the same late window; LBBB and normal have none.
        assert _beat_average(r, "I")[late].min() < _beat_average(n, "I")[late].min() - 0.1


def test_lad_axis_visible_in_limb_leads():
    for s in range(3):
        rec = _sim(["NSR", "LAD"], s)
        qrs = slice(int(0.05 * 500), int(0.15 * 500))
        i, avf = (_beat_average(rec, lead)[qrs] for lead in ("I", "aVF"))
        axis = math.degrees(math.atan2(avf.sum(), i.sum()))  # net-area frontal axis
        assert axis < -20, axis


def test_t_inversion_is_precordial():
    fs = 500
    t_win = slice(int(0.05 * fs + 0.2 * fs), int(0.05 * fs + 0.45 * fs))
    for s in range(3):
        n, t = _sim(["NSR"], s), _sim(["NSR", "TInv"], s)
        assert _beat_average(t, "V2", after=0.5)[t_win].min() < -0.15
        assert _beat_average(n, "V2", after=0.5)[t_win].min() > _beat_average(t, "V2", after=0.5)[t_win].min()
        assert _beat_average(t, "II", after=0.5)[t_win].max() > 0.05


def test_pvcs_are_premature_with_compensatory_pause():
    rec = _sim(["NSR", "PVC"], 4)
    on, pvc = rec.truth.qrs_onsets, rec.truth.pvc
    assert pvc.any()
    for k in np.flatnonzero(pvc):
        if 0 < k < len(on) - 1 and not pvc[k - 1] and not pvc[k + 1]:
            before, after = on[k] - on[k - 1], on[k + 1] - on[k]
            assert before < after
            assert on[k + 1] - on[k - 1] == pytest.approx(2 * (60 / rec.truth.heart_rate), rel=0.25)


# --- cache ------------------------------------------------------------------------------------


def test_ensure_dataset_idempotent_and_ignores_leftover_temp(tmp_path):
    cfg = SynthConfig(records=3, seed=9)
    target = S.dataset_dir(tmp_path, cfg)
    # A killed generation left a temp folder (with a dead pid) that contains records.
    leftover = tmp_path / f".{target.name}.tmp-999999999-deadbeef"
    leftover.mkdir(parents=True)
    (leftover / "SYN00001.hea").write_text("half")
    # A half-written target without the completion marker is not accepted silently either.
    out = S.ensure_dataset(tmp_path, cfg, progress=False)
    assert out == target and S.is_complete(out)
    assert not leftover.exists()
    stamp = (out / "SYN00001.mat").stat().st_mtime_ns
    assert S.ensure_dataset(tmp_path, cfg, progress=False) == out
    assert (out / "SYN00001.mat").stat().st_mtime_ns == stamp
    assert not list(tmp_path.glob(".synthetic-*"))


def test_ensure_dataset_rejects_incomplete_target(tmp_path):
    cfg = SynthConfig(records=2, seed=9)
    target = S.dataset_dir(tmp_path, cfg)
    target.mkdir(parents=True)
    (target / "SYN00001.hea").write_text("half")
    with pytest.raises(DatasetError, match="not a complete"):
        S.ensure_dataset(tmp_path, cfg, progress=False)


def test_killed_generation_leaves_no_complete_looking_folder(tmp_path, monkeypatch):
    cfg = SynthConfig(records=40, seed=1)
    calls = {"n": 0}
    real = S._write_one

    def dying(out, cfg_, index):
        calls["n"] += 1
        if calls["n"] == 20:
            raise KeyboardInterrupt
        return real(out, cfg_, index)

    monkeypatch.setattr(S, "_write_one", dying)
    with pytest.raises(KeyboardInterrupt):
        S.ensure_dataset(tmp_path, cfg, progress=False, workers=1)
    assert not S.dataset_dir(tmp_path, cfg).exists()
    monkeypatch.setattr(S, "_write_one", real)
    assert S.is_complete(S.ensure_dataset(tmp_path, cfg, progress=False, workers=1))


# --- CLI --------------------------------------------------------------------------------------


def test_cli_synth_writes_dataset_and_prints_table(tmp_path):
    from click.testing import CliRunner

    from lrh_tflm.cli import cli

    out = tmp_path / "cli"
    res = CliRunner().invoke(cli, ["data", "synth", "--out", str(out), "--records", "4", "--seed", "3",
                                   "--profile", "smoke", "--no-progress"])
    assert res.exit_code == 0, res.output
    assert "wrote 4 records" in res.output and "LBBB" in res.output
    assert (out / "RECORDS").read_text().split() == ["SYN00001", "SYN00002", "SYN00003", "SYN00004"]
    ref = tmp_path / "ref"
    S.write_dataset(ref, SynthConfig(records=4, seed=3), progress=False, workers=1)
    assert (out / "SYN00004.mat").read_bytes() == (ref / "SYN00004.mat").read_bytes()

    bad = CliRunner().invoke(cli, ["data", "synth", "--out", str(tmp_path / "x"), "--profile", "nope"])
    assert bad.exit_code == 1 and "unknown profile" in bad.output and "Traceback" not in bad.output
