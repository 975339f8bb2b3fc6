"""Distributed training, run for real, and ``lrh-tflm build --strategy``.

Two ``TF_CONFIG`` workers on the loopback interface train one model under
``MultiWorkerMirroredStrategy``, and a third process splits its CPU into two logical devices
for ``MirroredStrategy``; both must end where one process on one device ends on the whole
batch (tests/distributed_worker.py runs each process through the project's training loop).
"""
from __future__ import annotations

import importlib
import json
import os
import socket
import subprocess
import sys
import time
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest

import lrh_tflm  # noqa: F401  (before TensorFlow)

REPO = Path(__file__).resolve().parents[1]
WORKER = Path(__file__).with_name("distributed_worker.py")
#: Seconds the three processes may take together (≈ 35 s on two busy cores): a hung
#: collective or a worker waiting for a peer that died fails the test, not the session.
TIMEOUT = 240


def _loopback_ports(n: int) -> list[int]:
    """``n`` distinct free TCP ports on 127.0.0.1 (held open together so they differ)."""
    socks = []
    try:
        for _ in range(n):
            s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            s.bind(("127.0.0.1", 0))
            socks.append(s)
        return [s.getsockname()[1] for s in socks]
    except OSError as err:
        pytest.fail(f"cannot open a TCP port on 127.0.0.1 ({err}); the multi-worker test "
                    "needs the loopback interface")
    finally:
        for s in socks:
            s.close()


def _env(tf_config: dict | None) -> dict:
    env = {k: v for k, v in os.environ.items() if k != "TF_CONFIG"}
    env["PYTHONPATH"] = os.pathsep.join([str(REPO)] + [p for p in [env.get("PYTHONPATH")] if p])
    env["CUDA_VISIBLE_DEVICES"] = ""   # CPU replicas, also on a machine with GPUs
    env["TF_CPP_MIN_LOG_LEVEL"] = "2"
    if tf_config is not None:
        env["TF_CONFIG"] = json.dumps(tf_config)
    return env


def _tail(path: Path, n: int = 3000) -> str:
    return path.read_text(errors="replace")[-n:] if path.exists() else "(no output)"


@pytest.fixture(scope="module")
def runs(tmp_path_factory) -> dict[str, dict]:
    """Start both workers and the local process at once; their results by name."""
    tmp = tmp_path_factory.mktemp("distributed")
    ports = _loopback_ports(2)
    cluster = {"worker": [f"127.0.0.1:{p}" for p in ports]}
    jobs = {f"worker{i}": ("multiworker", {"cluster": cluster, "task": {"type": "worker", "index": i}})
            for i in range(2)}
    jobs["local"] = ("local", None)
    procs = {}
    try:
        for name, (mode, tf_config) in jobs.items():
            (tmp / name).mkdir()
            with open(tmp / f"{name}.log", "wb") as log:
                procs[name] = subprocess.Popen(
                    [sys.executable, str(WORKER), mode, str(tmp / name)], cwd=tmp,
                    env=_env(tf_config), stdout=log, stderr=subprocess.STDOUT,
                    stdin=subprocess.DEVNULL)
        deadline = time.monotonic() + TIMEOUT
        for name, proc in procs.items():
            try:
                rc = proc.wait(timeout=max(deadline - time.monotonic(), 0.1))
            except subprocess.TimeoutExpired:
                pytest.fail(f"{name} still running after {TIMEOUT} s (ports {ports}):\n"
                            + "\n".join(f"--- {n}\n{_tail(tmp / f'{n}.log')}" for n in procs))
            if rc != 0:
                pytest.fail(f"{name} exited with {rc} (ports {ports}):\n{_tail(tmp / f'{name}.log')}")
    finally:
        for proc in procs.values():
            if proc.poll() is None:
                proc.kill()
                proc.wait()
    out = {}
    for name, folder in (("worker0", tmp / "worker0"), ("worker1", tmp / "worker1"),
                         ("mirrored", tmp / "local" / "mirrored"), ("single", tmp / "local" / "single")):
        with np.load(folder / "result.npz") as z:
            n = int(z["n_weights"])
            out[name] = {"loss": z["loss"], "replicas": int(z["replicas"]),
                         "weights": [z[f"w{i}"] for i in range(n)],
                         "initial": [z[f"i{i}"] for i in range(n)]}
    return out


def _assert_same_training(run: dict, ref: dict) -> None:
    # Same global batches, gradients summed over replicas: equal up to float summation order.
    np.testing.assert_allclose(run["loss"], ref["loss"], rtol=1e-6, atol=1e-7)
    for w, r in zip(run["weights"], ref["weights"], strict=True):
        np.testing.assert_allclose(w, r, rtol=1e-5, atol=1e-6)


@pytest.mark.slow
def test_reference_run_trained(runs):
    single = runs["single"]
    assert single["replicas"] == 1 and len(single["loss"]) == 2
    assert single["loss"][1] < single["loss"][0]
    moved = max(float(np.abs(w - i).max()) for w, i in zip(single["weights"], single["initial"]))
    assert moved > 1e-3, "the reference run did not train, so agreeing with it proves nothing"


@pytest.mark.slow
def test_two_workers_end_identical_and_match_one_process(runs):
    w0, w1 = runs["worker0"], runs["worker1"]
    assert w0["replicas"] == w1["replicas"] == 2
    # Both start from the chief's initial weights and apply the same all-reduced gradients.
    for a, b in zip(w0["initial"] + w0["weights"], w1["initial"] + w1["weights"], strict=True):
        np.testing.assert_array_equal(a, b)
    np.testing.assert_array_equal(w0["loss"], w1["loss"])
    _assert_same_training(w0, runs["single"])


@pytest.mark.slow
def test_mirrored_on_two_logical_cpus_matches_one_device(runs):
    assert runs["mirrored"]["replicas"] == 2
    _assert_same_training(runs["mirrored"], runs["single"])


# ------------------------------------------------------------------------ build --strategy
def _build_module():
    # The module, not the function: lrh_tflm.pipeline re-exports build() under the same name.
    return importlib.import_module("lrh_tflm.pipeline.build")


class _Stop(Exception):
    """Raised by the fake int8 stage: everything after QAT is not this test's business."""


def _fake_build(monkeypatch, tmp_path: Path):
    """``pipeline.build`` with data, training, QAT and int8 replaced by recorders.

    Returns the list of ``(stage folder name, strategy)`` every training call received and the
    names :func:`get_strategy` was asked for.
    """
    B = _build_module()

    calls, asked = [], []
    prepared = SimpleNamespace(manifest={"key": "cache-key"})
    data = SimpleNamespace(source=SimpleNamespace(spec="synthetic"), prepared=prepared,
                           splits={"train": [0], "val": [1], "test": [2]})
    monkeypatch.setattr(B, "_data_stage", lambda *a, **k: (data, {"cache": "cache-key"}))

    def get_strategy(name):
        asked.append(name)
        return f"strategy:{name}"

    def train_stage(role, prepared, splits, *, leads, out_dir, strategy, **kw):
        calls.append((Path(out_dir).name, strategy))
        summary = {"model_dir": str(Path(out_dir) / "model"), "leads": list(leads),
                   "epochs": 1, "params": 1, "test_auroc": 0.5}
        return SimpleNamespace(summary=lambda: summary)

    def qat_stage(student_dir, prepared, splits, *, out_dir, strategy, **kw):
        calls.append((Path(out_dir).name, strategy))
        return SimpleNamespace(summary=lambda: {"model_dir": str(student_dir)})

    def convert_student(*a, **k):  # the int8 stage's first step: training is over
        raise _Stop

    monkeypatch.setattr(B, "get_strategy", get_strategy)
    monkeypatch.setattr(B, "train_stage", train_stage)
    monkeypatch.setattr(B.recipes, "qat_stage", qat_stage)
    monkeypatch.setattr(B.recipes, "convert_student", convert_student)

    def run(strategy: str, out: Path):
        calls.clear()
        asked.clear()
        opts = B.BuildOptions(profile="smoke", out=out, strategy=strategy, kd="sequential")
        with pytest.raises(_Stop):
            B.build(opts, cache_dir=tmp_path / "cache", log=lambda line: None, progress=False)
        return list(calls), list(asked)

    return run


TRAINING_STAGES = ("teacher-12", "teacher-reduced", "student-kd", "student-none", "qat")


def _keys(out: Path) -> dict[str, str]:
    return {s: json.loads((out / s / "stage.json").read_text())["key"] for s in TRAINING_STAGES}


def test_build_strategy_reaches_every_training_stage(monkeypatch, tmp_path):
    run = _fake_build(monkeypatch, tmp_path)
    calls, asked = run("mirrored", tmp_path / "mirrored")
    assert sorted(name for name, _ in calls) == sorted(TRAINING_STAGES)
    assert {s for _, s in calls} == {"strategy:mirrored"}
    assert asked == ["mirrored"]          # one strategy per build, created once
    calls, asked = run("default", tmp_path / "default")
    assert {s for _, s in calls} == {"strategy:default"} and len(calls) == len(TRAINING_STAGES)


def test_build_strategy_is_not_in_the_stage_keys(monkeypatch, tmp_path):
    run = _fake_build(monkeypatch, tmp_path)
    run("default", tmp_path / "a")
    run("multiworker", tmp_path / "b")
    assert _keys(tmp_path / "a") == _keys(tmp_path / "b")
    # A finished default build resumes under another strategy: nothing trains again, and no
    # strategy (for multiworker: no cluster) is even created.
    calls, asked = run("mirrored", tmp_path / "a")
    assert calls == [] and asked == []


def test_build_rejects_an_unknown_strategy_before_any_work(monkeypatch, tmp_path):
    B = _build_module()

    monkeypatch.setattr(B, "_data_stage", lambda *a, **k: pytest.fail("data stage ran"))
    with pytest.raises(ValueError, match="unknown strategy 'tpu'"):
        B.build(B.BuildOptions(out=tmp_path, strategy="tpu"), cache_dir=tmp_path, progress=False)


def test_build_cli_passes_strategy(monkeypatch, tmp_path):
    from click.testing import CliRunner

    from lrh_tflm.cli import cli
    B = _build_module()

    seen = []

    def fake(opts, **kw):
        seen.append(opts.strategy)
        raise SystemExit(0)

    monkeypatch.setattr(B, "build", fake)
    res = CliRunner().invoke(cli, ["--verbose", "build", "--strategy", "multiworker", "--out", str(tmp_path)])
    assert seen == ["multiworker"], res.output
    assert "--strategy [default|mirrored|multiworker]" in CliRunner().invoke(
        cli, ["build", "--help"]).output
