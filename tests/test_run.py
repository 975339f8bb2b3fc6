"""``lrh-tflm run``: real records through the int8 model on LiteRT and TFLM, table and JSON lines."""
from __future__ import annotations

import json

import numpy as np
import pytest
from click.testing import CliRunner

from lrh_tflm.artifact import write_model_bundle
from lrh_tflm.cli import cli

from test_interpreters import ABBREV, WINDOW, tiny_model


@pytest.fixture(scope="module")
def bundle(tmp_path_factory):
    """``model.tflite`` + ``model.json`` (the sidecar, with a hop) in a temp folder."""
    _, tflite, sidecar = tiny_model()
    out = tmp_path_factory.mktemp("bundle")
    return write_model_bundle(tflite, {**sidecar, "hop": 128}, out)


def _run(*args):
    return CliRunner().invoke(cli, ["run", *map(str, args)], catch_exceptions=False)


def test_table_on_a_real_record(bundle, samples_dir):
    rec = samples_dir / "cinc2020" / "E00009.hea"  # 500 Hz, 10 s
    res = _run(rec, "--model", bundle)
    assert res.exit_code == 0, res.output
    lines = res.stdout.strip().splitlines()
    assert lines[0].split()[0] == "E00009" and all(a in lines[0] for a in ABBREV)
    assert lines[-1].split()[0] == "max"
    # 10 s at 125 Hz = 1250 samples; windows of 256 every 128 → 8 windows, then the max row.
    assert len(lines) == 1 + 8 + 1


def test_json_lines_windows_and_aggregate(bundle, samples_dir):
    rec = samples_dir / "cinc2020" / "E00009"  # base name, no suffix
    res = _run(rec, "--model", bundle, "--json", "--hop", 256)
    assert res.exit_code == 0, res.output
    rows = [json.loads(line) for line in res.stdout.strip().splitlines()]
    windows, agg = rows[:-1], rows[-1]
    assert len(windows) == 4 and [w["window_start_s"] for w in windows] == [0.0, 2.048, 4.096, 6.144]
    thresholds = dict(zip(ABBREV, json.loads(bundle.with_suffix(".json").read_text())["thresholds"]))
    for w in windows:
        assert w["record"] == "E00009" and set(w["probabilities"]) == set(ABBREV)
        assert all(0.0 <= p <= 1.0 for p in w["probabilities"].values())
        assert w["decisions"] == [a for a in ABBREV if w["probabilities"][a] >= thresholds[a]]
    assert agg["aggregate"] == "max" and agg["windows"] == 4
    for a in ABBREV:
        assert agg["probabilities"][a] == pytest.approx(max(w["probabilities"][a] for w in windows),
                                                        abs=1e-5)


def test_tflm_runtime_matches_litert_within_an_lsb(bundle, samples_dir):
    rec = samples_dir / "cinc2020" / "E00009.mat"  # the signal file works too
    outs = {}
    for rt in ("litert", "tflm"):
        res = _run(rec, "--model", bundle, "--json", "--runtime", rt)
        assert res.exit_code == 0, res.output
        outs[rt] = np.array([[r["probabilities"][a] for a in ABBREV]
                             for r in map(json.loads, res.stdout.splitlines())])
    # Both dequantise the same int8 logits; kernels may differ by an LSB (≈ scale/4 in p).
    _, tflite, _ = tiny_model()
    from lrh_tflm.tflite.schema import io_details

    out_scale = io_details(tflite)[1][0].scale
    assert np.abs(outs["litert"] - outs["tflm"]).max() <= 3 * out_scale / 4 + 1e-5


def test_bad_records_are_reported_and_the_rest_still_run(bundle, copy_sample, tmp_path):
    good = copy_sample("cinc2020", "E00009")
    bad = copy_sample("cinc2020", "E00015")
    mat = bad.with_suffix(".mat")
    mat.write_bytes(mat.read_bytes()[:100])  # truncated signal file
    missing = tmp_path / "records" / "NOPE01"
    res = CliRunner().invoke(cli, ["run", str(bad), str(missing), str(good), "--model", str(bundle),
                                   "--json"])
    assert res.exit_code == 1
    assert "Traceback" not in res.output
    err = res.stderr
    assert "E00015: " in err and "NOPE01: " in err and "2 of 3 record(s) failed" in err
    rows = [json.loads(line) for line in res.stdout.strip().splitlines()]
    assert {r["record"] for r in rows} == {"E00009"}


def test_missing_sidecar_is_a_clear_error(tmp_path, samples_dir):
    _, tflite, _ = tiny_model()
    model = tmp_path / "alone.tflite"
    model.write_bytes(tflite)
    res = CliRunner().invoke(cli, ["run", str(samples_dir / "cinc2020" / "E00009"),
                                   "--model", str(model)])
    assert res.exit_code == 1 and "alone.json not found" in res.output
    assert "Traceback" not in res.output
    assert WINDOW == 256
