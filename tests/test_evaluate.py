"""``lrh-tflm evaluate`` on the session smoke build's saved Keras student and its int8 model."""
from __future__ import annotations

import json

import pytest

from conftest import TF_LOG_LINE, run_cli

EVAL = ("--data", "synthetic", "--profile", "smoke", "--split", "test")


def _bench(build) -> dict:
    return json.loads((build.out / "report" / "benchmark.json").read_text())


@pytest.mark.slow
def test_keras_student_prints_scores_and_class_table(smoke_build):
    model = smoke_build.out / "student-kd" / "model"
    res = run_cli(["evaluate", model, *EVAL], cache=smoke_build.cache, check=True)
    assert "challenge score" in res.stdout and "macro AUROC" in res.stdout
    classes = _bench(smoke_build)["classes"]
    table = res.stdout[res.stdout.index("class "):]
    for abbr in classes:
        assert f"\n{abbr} " in table, abbr
    assert "(test, 31 records, 0 skipped, 0 warning(s))" in res.stdout
    # A newcomer's screen: no TensorFlow start-up lines (cuInit errors, absl notices).
    assert not TF_LOG_LINE.search(res.stderr), res.stderr[:2000]


@pytest.mark.slow
def test_keras_student_json_matches_its_training_test_score(smoke_build):
    model = smoke_build.out / "student-kd" / "model"
    res = run_cli(["evaluate", model, *EVAL, "--json"], cache=smoke_build.cache, check=True)
    out = json.loads(res.stdout)
    assert out["kind"] == "keras" and out["split"] == "test"
    assert out["metrics"]["score"] == pytest.approx(_bench(smoke_build)["score"]["student-kd"],
                                                    abs=1e-6)


@pytest.mark.slow
def test_int8_tflite_score_equals_the_builds(smoke_build):
    model = smoke_build.out / "int8" / "student_int8.tflite"
    res = run_cli(["evaluate", model, *EVAL, "--json"], cache=smoke_build.cache, check=True)
    out = json.loads(res.stdout)  # one JSON object, nothing else on stdout
    bench = _bench(smoke_build)
    assert out["kind"] == "tflite" and out["records"] == bench["test_records"]
    assert out["missing_classes"] == []
    m = out["metrics"]
    # Same windows, same thresholds, same LiteRT reference kernels as the build's int8 stage.
    assert m["score"] == pytest.approx(bench["score"]["student-int8"], abs=1e-9)
    assert m["auroc"] == pytest.approx(bench["auroc"]["student-int8"], abs=1e-9)
    assert [r["abbreviation"] for r in m["per_class"]] == bench["classes"]


@pytest.mark.slow
def test_int8_tflite_table_on_tflm(smoke_build):
    model = smoke_build.out / "int8" / "student_int8.tflite"
    res = run_cli(["evaluate", model, *EVAL, "--runtime", "tflm"], cache=smoke_build.cache,
                  check=True)
    line = next(x for x in res.stdout.splitlines() if x.startswith("challenge score"))
    score = float(line.split()[2])
    # TFLM equals the reference kernels up to rare 1-LSB differences: same score to 3 decimals
    # unless a decision flips exactly at a threshold.
    assert score == pytest.approx(_bench(smoke_build)["score"]["student-int8"], abs=0.02)


def test_missing_model_is_a_clean_error(tmp_path):
    res = run_cli(["evaluate", tmp_path / "nope.tflite", *EVAL], cache=tmp_path / "cache",
                  timeout=120)
    assert res.returncode != 0
    assert "Traceback" not in res.stderr
    assert "nope.tflite" in res.stderr and "does not exist" in res.stderr


def test_tflite_without_sidecar_is_a_clean_error(tmp_path):
    model = tmp_path / "m.tflite"
    model.write_bytes(b"not a model")
    res = run_cli(["evaluate", model, *EVAL], cache=tmp_path / "cache", timeout=120)
    assert res.returncode != 0
    assert "Traceback" not in res.stderr
    assert "sidecar" in res.stderr and "m.json" in res.stderr
