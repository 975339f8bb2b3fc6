"""``lrh-tflm build`` end to end on the smoke profile: artefacts, reuse, resume, firmware, errors.

One smoke build is shared by the session (``smoke_build`` in conftest.py); only the
kill-and-resume test runs a build of its own.
"""
from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import time
from pathlib import Path

import pytest

from conftest import CLI, TF_LOG_LINE, run_cli

STAGES = ("data", "teacher-12", "teacher-reduced", "student-kd", "student-none", "qat", "int8",
          "parity", "export")
MODEL_NAMES = ("teacher-12", "teacher-reduced", "student-none", "student-kd", "student-int8")
#: The generated model files the sketch compiles (footprint.json travels with them).
MODEL_FILES = ("model_data.h", "model_data.cc", "model_settings.h", "model_ops.h")
REPO = Path(__file__).resolve().parents[1]


def _read(path: Path) -> dict:
    return json.loads(Path(path).read_text())


def _stage_lines(stdout: str) -> dict[str, str]:
    """``[stage] …`` log lines by stage name (several lines of one stage joined)."""
    lines: dict[str, str] = {}
    for line in stdout.splitlines():
        if line.startswith("[") and "]" in line:
            name = line[1:line.index("]")]
            lines[name] = f"{lines[name]}\n{line}" if name in lines else line
    return lines


# ----------------------------------------------------------------------------- (a) artefacts
@pytest.mark.slow
def test_every_stage_finished_with_its_summary(smoke_build):
    for stage in STAGES:
        meta = _read(smoke_build.out / stage / "stage.json")
        assert meta["name"] == stage and meta["key"] and isinstance(meta["summary"], dict)
        assert not (smoke_build.out / stage / "stage.started.json").exists()
    lines = _stage_lines(smoke_build.stdout)
    for stage in STAGES:
        assert "done in" in lines[stage], lines.get(stage)
    # Quiet by default: TensorFlow's start-up lines (cuInit errors, absl notices) never show.
    assert not TF_LOG_LINE.search(smoke_build.stderr), smoke_build.stderr[:2000]


@pytest.mark.slow
def test_report_and_figures_exist(smoke_build):
    report = smoke_build.out / "report"
    md = (report / "report.md").read_text()
    for png in ("training_curves.png", "roc.png", "comparison.png", "f1.png", "strips.png"):
        path = report / png
        assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n", png
        assert f"]({png})" in md, f"report.md does not show {png}"
    for name in MODEL_NAMES:
        assert f"| {name} |" in md


@pytest.mark.slow
def test_benchmark_has_every_headline_number(smoke_build):
    b = _read(smoke_build.out / "report" / "benchmark.json")
    assert set(b["params"]) >= {"teacher", "assistant", "student"}
    assert all(isinstance(b["params"][k], int) and b["params"][k] > 0 for k in b["params"])
    assert b["param_ratio"] == pytest.approx(b["params"]["teacher"] / b["params"]["student"])
    assert all(b["macs"][k] > 0 for k in ("teacher", "assistant", "student"))
    assert b["tflite_bytes"] == (smoke_build.out / "int8" / "student_int8.tflite").stat().st_size
    assert b["arena_bytes"] > 0
    lat = b["latency_ms"]
    assert all(lat[k] > 0 for k in ("teacher_float", "student_float", "student_int8"))
    assert b["latency_reduction_pct"] == pytest.approx(
        100 * (1 - lat["student_int8"] / lat["teacher_float"]))
    for key in ("score", "auroc"):
        assert set(b[key]) == set(MODEL_NAMES), key
        assert all(v is None or -1.5 <= v <= 1.0 for v in b[key].values())
    s = b["score"]
    assert b["kd_gain_pct"] == pytest.approx(
        100 * (s["student-kd"] - s["student-none"]) / abs(s["student-none"]))
    assert b["qat_drop_points"] == pytest.approx(100 * (s["student-kd"] - s["student-int8"]))
    # The parity stage's own report, not a copy of some of its fields.
    parity = _read(smoke_build.out / "parity" / "stage.json")["summary"]
    assert 0.0 <= b["parity"]["exact_tflm_ref"] <= 1.0
    assert b["parity"] == {k: v for k, v in parity.items() if k not in ("failures", "xnnpack_ops")}
    assert set(b["stage_seconds"]) >= set(STAGES)
    # The report's numbers are the stages' numbers, not recomputed ones.
    int8 = _read(smoke_build.out / "int8" / "stage.json")["summary"]
    assert s["student-int8"] == pytest.approx(int8["test_score"])


@pytest.mark.slow
def test_model_card_describes_the_model(smoke_build):
    card = _read(smoke_build.out / "report" / "model_card.json")
    side = _read(smoke_build.out / "int8" / "student_int8.json")
    assert card["data"]["spec"].startswith("synthetic") and card["data"]["cache_key"]
    assert card["leads"] == ["I", "II"] == side["leads"]
    assert len(card["classes"]) == len(card["abbreviations"]) == len(card["thresholds"])
    assert card["thresholds"] == side["thresholds"]
    assert card["preprocessing"]["fs"] == 100.0 and card["preprocessing"]["window"] == 512
    for name in MODEL_NAMES:
        assert "score" in card["metrics"][name]["test"]
    assert "val" in card["metrics"]["student-kd"]
    assert card["footprint"]["flatbuffer_bytes"] > 0 and card["footprint"]["arena_measured_bytes"] > 0
    from lrh_tflm import __version__

    assert card["version"] == __version__


@pytest.mark.slow
def test_export_folder_has_the_model_files(smoke_build):
    fw = smoke_build.out / "export" / "firmware"
    for name in (*MODEL_FILES, "footprint.json"):
        assert (fw / name).stat().st_size > 0, name
    tfl = (smoke_build.out / "int8" / "student_int8.tflite").read_bytes()
    import hashlib

    assert hashlib.sha256(tfl).hexdigest() in (fw / "model_data.cc").read_text()
    assert "kArenaBytes" in (fw / "model_settings.h").read_text()


# ----------------------------------------------------------------------------- the CLI on a build's models
def _without_banner(text: str) -> str:
    """A generated file without its banner line (which names the source file)."""
    return "\n".join(line for line in text.splitlines() if not line.startswith("// Generated by"))


@pytest.mark.slow
def test_export_cli_exports_the_qat_model_as_the_build_does(smoke_build, tmp_path):
    """Issue 12: ``export --model OUT/qat/model`` (sidecar ``"qat": true``) loads the QAT graph
    and writes the build's int8 model and firmware files, byte for byte."""
    qat_dir = smoke_build.out / "qat" / "model"
    assert _read(qat_dir / "sidecar.json")["qat"] is True
    out = tmp_path / "export"
    res = run_cli(["export", "--model", qat_dir, "--out", out, "--profile", "smoke",
                   "--workers", "1", "--parity-windows", "32"], cache=smoke_build.cache)
    assert res.returncode == 0, res.stdout[-2000:] + res.stderr[-2000:]
    assert "int8 model (qat)" in res.stdout
    built = smoke_build.out / "int8" / "student_int8.tflite"
    assert (out / "model.tflite").read_bytes() == built.read_bytes()
    meta, built_meta = _read(out / "model.json"), _read(built.with_suffix(".json"))
    for key in ("quantization", "hop", "tflite_ops", "thresholds", "leads", "tflite_sha256"):
        assert meta[key] == built_meta[key], key
    for name in MODEL_FILES:
        ours = (out / "firmware" / name).read_text()
        theirs = (smoke_build.out / "export" / "firmware" / name).read_text()
        assert _without_banner(ours) == _without_banner(theirs), name
    # Asking for PTQ of QAT weights is a clear error, not a model that loads nothing.
    res = run_cli(["export", "--model", qat_dir, "--out", tmp_path / "o2", "--profile", "smoke",
                   "--workers", "1", "--quantization", "ptq"], cache=smoke_build.cache)
    assert res.returncode == 1 and "holds QAT weights" in res.stderr


@pytest.mark.slow
def test_run_windows_the_record_like_the_board(smoke_build, samples_dir):
    """Issue 12: ``run`` on the build's int8 model uses the board's hop (the sidecar's, the
    same number as ``kHopSamples``), not one window per window length."""
    from lrh_tflm.artifact import preprocess_config
    from lrh_tflm.data.preprocess import prepare_signal
    from lrh_tflm.device.hostbuild import settings_value
    from lrh_tflm.infer import read_record

    tfl = smoke_build.out / "int8" / "student_int8.tflite"
    side = _read(tfl.with_suffix(".json"))
    settings = smoke_build.out / "export" / "firmware"
    hop, window = int(settings_value(settings, "kHopSamples")), int(settings_value(settings, "kWindowSamples"))
    assert side["hop"] == hop and side["window"] == window and hop < window
    rec = samples_dir / "cinc2020" / "E00009.hea"  # 500 Hz, 10 s
    res = run_cli(["run", rec, "--model", tfl, "--json"], cache=smoke_build.cache)
    assert res.returncode == 0, res.stderr[-2000:]
    assert "no hop" not in res.stderr
    rows = [json.loads(line) for line in res.stdout.splitlines()]
    fs = float(side["fs"])
    starts = [round(r["window_start_s"] * fs) for r in rows if "window_start_s" in r]
    n = len(prepare_signal(read_record(rec), preprocess_config(side)))
    assert starts == list(range(0, n - window + 1, hop))


def test_firmware_into_a_new_folder_gets_the_whole_sketch(tmp_path):
    """``--firmware DIR`` with a new DIR writes the sketch shipped with the package, then the
    model files into its ``src/`` (what a non-editable install needs: no checkout)."""
    from lrh_tflm.device.codegen import FIRMWARE_FILES
    from lrh_tflm.device.hostbuild import SKETCH_DIR
    from lrh_tflm.pipeline.build import install_firmware

    dest = tmp_path / "my_ecg"
    written = install_firmware(SKETCH_DIR / "src", dest)
    assert sorted(p.name for p in written) == sorted(FIRMWARE_FILES)
    assert all(p.parent == dest / "src" for p in written)
    assert (dest / "my_ecg.ino").read_text() == (SKETCH_DIR / "lrh_ecg.ino").read_text()
    for path in (SKETCH_DIR / "src").iterdir():
        if path.suffix in (".cpp", ".h"):
            assert (dest / "src" / path.name).read_bytes() == path.read_bytes(), path.name


# ----------------------------------------------------------------------------- (b) + (d) rerun
@pytest.fixture(scope="module")
def rerun(smoke_build, tmp_path_factory):
    """Rerun the finished build, installing the firmware into a copy of the sketch."""
    sketch = tmp_path_factory.mktemp("sketch") / "lrh_ecg"
    shutil.copytree(REPO / "firmware" / "lrh_ecg", sketch)
    before = {p.name: p.read_bytes() for p in (sketch / "src").iterdir() if p.is_file()}
    t0 = time.perf_counter()
    res = run_cli(["build", "--profile", "smoke", "--out", smoke_build.out, "--quiet",
                   "--workers", "1", "--firmware", sketch], cache=smoke_build.cache, check=True)
    return res, time.perf_counter() - t0, sketch, before


@pytest.mark.slow
def test_rerun_reuses_every_stage(rerun):
    res, seconds, _, _ = rerun
    lines = _stage_lines(res.stdout)
    for stage in STAGES:
        assert "reused" in lines[stage], lines.get(stage)
    assert "done in" not in res.stdout
    # No training: process start, TensorFlow import and the report's figures only.
    assert seconds < 60, f"rerun took {seconds:.0f} s"


@pytest.mark.slow
def test_firmware_option_writes_model_files_into_sketch_src(rerun, smoke_build):
    res, _, sketch, before = rerun
    export = smoke_build.out / "export" / "firmware"
    for name in MODEL_FILES:
        assert (sketch / "src" / name).read_bytes() == (export / name).read_bytes(), name
        assert not (sketch / name).exists(), f"{name} landed beside the .ino, not in src/"
    # The portable core next to them is untouched.
    for name, data in before.items():
        if name not in (*MODEL_FILES, "footprint.json"):
            assert (sketch / "src" / name).read_bytes() == data, name
    assert "[firmware] wrote" in res.stdout


# ----------------------------------------------------------------------------- (c) resume
@pytest.mark.slow
def test_killed_build_resumes_from_finished_stages(smoke_build, tmp_path):
    out = tmp_path / "build"
    env = {**os.environ, "LRH_TFLM_CACHE": str(smoke_build.cache), "TF_CPP_MIN_LOG_LEVEL": "2"}
    args = [*CLI, "build", "--profile", "smoke", "--kd", "none", "--out", str(out), "--quiet",
            "--workers", "1"]
    proc = subprocess.Popen(args, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            start_new_session=True)
    try:
        deadline = time.monotonic() + 300
        while not (out / "teacher-12" / "stage.json").exists():
            assert proc.poll() is None, f"build exited early with {proc.returncode}"
            assert time.monotonic() < deadline, "teacher-12 did not finish in 300 s"
            time.sleep(0.2)
    finally:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
    assert not (out / "report" / "benchmark.json").exists(), "the build finished before the kill"

    res = run_cli(args[3:], cache=smoke_build.cache, check=True)
    lines = _stage_lines(res.stdout)
    assert "reused" in lines["teacher-12"], lines["teacher-12"]
    assert "reused" in lines["data"]
    for stage in ("qat", "int8", "parity", "export"):
        assert "done in" in lines[stage], lines.get(stage)
    b = _read(out / "report" / "benchmark.json")
    assert b["kd"] == "none" and b["score"]["student-int8"] is not None
    for stage in STAGES:
        assert (out / stage / "stage.json").exists(), stage
        assert not (out / stage / "stage.started.json").exists(), stage


# ----------------------------------------------------------------------------- (e) bad input
@pytest.mark.parametrize("args, needle", [
    (["--leads", "I,XX"], "XX"),
    (["--data", "challenge:/nonexistent/lrh-records"], "/nonexistent/lrh-records"),
    (["--leads", "5"], "5"),
])
def test_bad_options_give_a_clear_error(args, needle, tmp_path):
    res = run_cli(["build", "--profile", "smoke", "--out", tmp_path / "b", "--quiet", *args],
                  cache=tmp_path / "cache", timeout=120)
    assert res.returncode != 0
    assert "Traceback" not in res.stderr + res.stdout
    assert "Error" in res.stderr and needle in res.stderr, res.stderr
    assert not (tmp_path / "b" / "teacher-12").exists()


# ----------------------------------------------------------------------------- (f) KD recipes
def test_recipe_replaces_how_to_distil_but_not_the_scheme():
    from lrh_tflm.config import KD_RECIPES, get_profile
    from lrh_tflm.pipeline.build import BuildOptions, resolve_profile

    paper = resolve_profile(BuildOptions(profile="paper"))
    assert paper.kd.scheme == "sequential" and paper.kd.loss == "kl-softmax"
    mse = resolve_profile(BuildOptions(profile="paper", recipe="mse"))
    assert mse.kd.scheme == "sequential"  # the profile's scheme stays
    assert (mse.kd.loss, mse.kd.alpha, mse.kd.teacher_weights) == (
        "mse-logits", KD_RECIPES["mse"].alpha, KD_RECIPES["mse"].teacher_weights)
    # Explicit options win over the recipe, and the paper's recipe is the paper's numbers.
    both = resolve_profile(BuildOptions(profile="ptbxl", recipe="paper", kd="vanilla",
                                        loss="bce-sigmoid"))
    assert (both.kd.scheme, both.kd.loss, both.kd.temperature, both.kd.alpha) == (
        "vanilla", "bce-sigmoid", 8.0, 0.2)
    assert KD_RECIPES["paper"].teacher_weights == (0.7, 0.3) and not KD_RECIPES["paper"].t_squared
    assert get_profile("ptbxl").student_train.crop_step == get_profile("ptbxl").hop
    with pytest.raises(ValueError, match="unknown KD recipe"):
        resolve_profile(BuildOptions(recipe="nope"))


def test_cli_lists_recipes_and_profiles(tmp_path):
    res = run_cli(["build", "--help"], cache=tmp_path, timeout=60)
    assert res.returncode == 0
    for word in ("--recipe", "paper", "mse-ensemble", "ptbxl", "mse-logits"):
        assert word in res.stdout, word


# ----------------------------------------------------------------------------- (g) --emulate
@pytest.mark.slow
def test_emulate_proves_the_export_on_the_emulated_board_and_the_report_quotes_it(
        smoke_build, tmp_path):
    from lrh_tflm.device import emulator as em

    from conftest import require_shared

    require_shared(em.flavour_dir("cmsis-nn"))
    for tool in (em.QEMU, "arm-none-eabi-g++"):
        if shutil.which(tool) is None:
            if os.environ.get("CI", "").strip().lower() == "true":
                pytest.fail(f"{tool} not installed; CI=true requires it")
            pytest.skip(f"{tool} not installed")
    out = tmp_path / "build"
    shutil.copytree(smoke_build.out, out)  # the shared build's report stays as it is
    res = run_cli(["build", "--profile", "smoke", "--out", out, "--quiet", "--workers", "1",
                   "--emulate"], cache=smoke_build.cache, check=True)
    lines = _stage_lines(res.stdout)
    for stage in STAGES:
        if stage != "report":
            assert "reused" in lines[stage], lines.get(stage)
    assert "done in" in lines["emulate"] and "bit-identical to the host TFLM" in lines["emulate"]
    emu = _read(out / "report" / "benchmark.json")["emulator"]
    assert emu["passed"] and emu["comparison"]["identical"] == emu["comparison"]["windows_compared"]
    assert emu["instructions_median"] > 0 and emu["arena_used_bytes"] <= emu["arena_bytes"]
    report = (out / "report" / "report.md").read_text()
    assert "Firmware measured on the emulated board" in report
    assert f"{emu['instructions_median'] / 1e6:.1f} M instructions/inference" in report
    fp = _read(out / "export" / "firmware" / "footprint.json")
    assert fp["measured"]["instructions_per_inference"] == emu["instructions_median"]


def test_profile_smoothing_reaches_the_int8_sidecar():
    from lrh_tflm.config import DEFAULT_SMOOTHING, get_profile
    from lrh_tflm.pipeline.recipes import bundle_sidecar

    assert get_profile("ptbxl").smoothing == DEFAULT_SMOOTHING == (2, 3)
    side = bundle_sidecar({"leads": ["I"]}, mode="qat", hop=125, ops=["ADD"], smoothing=(3, 5))
    assert side["smoothing"] == {"k": 3, "n": 5} and side["hop"] == 125
    # A sidecar's own smoothing is kept when the caller names none (re-bundling a bundle).
    assert bundle_sidecar(side, mode="qat", hop=125, ops=["ADD"])["smoothing"] == {"k": 3, "n": 5}
    with pytest.raises(ValueError, match="smoothing"):
        bundle_sidecar({}, mode="qat", hop=125, ops=[], smoothing=(4, 3))
