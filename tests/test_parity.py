"""The parity chain: TFLM vs LiteRT-ref, XNNPACK vs reference, int8 vs Keras decisions.

XNNPACK is judged kernel by kernel (each op within 1 LSB of the reference kernel on the same
inputs) and by its decisions; its end-to-end LSB difference is reported but does not fail
the chain, because per-kernel rounding differences compound through a deep graph.

Measured on this toolchain (LiteRT 2.3, tflite-micro wheel): conv/mean/add/mul/logistic
kernels agree bit for bit between TFLM and LiteRT-ref; only FULLY_CONNECTED rounds
differently (LiteRT's reference requantises in float, TFLM in fixed point), which is why the
students run their Dense layers as 1×1 convolutions.  The student tests below therefore
demand bit-exact TFLM outputs (tolerance 0) on every window.
"""
from __future__ import annotations

import functools
import json

import numpy as np
import pytest

from lrh_tflm.config import PreprocessConfig
from lrh_tflm.tflite.parity import parity_chain
from lrh_tflm.tflite.runtime import make_runner

from test_interpreters import ABBREV, LEADS, WINDOW, demo_vectors, ecg_like_windows, tiny_model


@functools.lru_cache(maxsize=1)
def conv_only_model():
    """An ECG-only int8 model without FULLY_CONNECTED: conv → conv → 1×1 conv → mean."""
    import tensorflow as tf
    import tf_keras as keras

    keras.utils.set_random_seed(1)
    ecg = keras.Input((1, WINDOW, len(LEADS)), name="ecg", batch_size=1)
    x = keras.layers.Conv2D(8, (1, 8), padding="same", activation="relu")(ecg)
    x = keras.layers.Conv2D(16, (1, 8), strides=(1, 2), padding="same", activation="relu")(x)
    x = keras.layers.Conv2D(len(ABBREV), (1, 1))(x)
    out = keras.layers.GlobalAveragePooling2D(name="logits")(x)
    model = keras.Model(ecg, out)
    rep = ecg_like_windows(32, seed=11)
    conv = tf.lite.TFLiteConverter.from_keras_model(model)
    conv.optimizations = [tf.lite.Optimize.DEFAULT]
    conv.representative_dataset = lambda: ([rep[i:i + 1]] for i in range(len(rep)))
    conv.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
    conv.inference_input_type = conv.inference_output_type = tf.int8
    return model, bytes(conv.convert())


def _names(n, per=4):
    return [f"SYN{i // per:04d}" for i in range(n)]


def test_strict_chain_passes_on_a_model_without_fully_connected():
    model, tflite = conv_only_model()
    x = ecg_like_windows(240, seed=21)
    rep = parity_chain(tflite, x, None, _names(240), thresholds=[0.5] * 3, classes=ABBREV,
                       keras_model=model)
    assert rep.n_windows == 240
    assert rep.exact_tflm_ref == 1.0 and rep.max_lsb_tflm == 0 and rep.divergence is None
    assert rep.max_lsb_xnnpack_op <= 1 and rep.xnnpack_decision_agreement >= 0.99
    assert [o["op_name"] for o in rep.xnnpack_ops] == ["CONV_2D"] * 3 + ["MEAN"]
    assert rep.xnnpack_op_worst.split(" ")[0] in {"CONV_2D", "MEAN"}
    assert 0.0 < rep.xnnpack_within_1lsb <= 1.0
    assert rep.decision_agreement >= 0.99
    assert rep.passed, rep.summary()
    assert not [f for f in rep.failures if f.check in ("tflm-vs-ref", "xnnpack-op")]
    assert "op by op" in rep.summary() and "end to end max" in rep.summary()


def test_student_parity_on_synthetic_windows(tmp_path):
    model, tflite, sidecar = tiny_model()
    x, d = ecg_like_windows(240, seed=7), demo_vectors(240, seed=7)
    rep = parity_chain(tflite, x, d, _names(240), thresholds=sidecar["thresholds"],
                       classes=ABBREV, keras_model=model, tflm_tolerance_lsb=0)
    assert rep.n_windows == 240
    assert rep.exact_tflm_ref == 1.0 and rep.max_lsb_tflm == 0, rep.divergence
    assert rep.decision_agreement >= 0.99
    assert rep.passed, rep.summary()
    # Strict defaults flag the differences instead of hiding them.
    strict = parity_chain(tflite, x, d, _names(240), thresholds=sidecar["thresholds"],
                          classes=ABBREV)
    assert strict.passed == (strict.max_lsb_tflm == 0 and strict.max_lsb_xnnpack_op <= 1
                             and strict.xnnpack_decision_agreement >= 0.99)
    n_diff = sum(f.check == "tflm-vs-ref" for f in strict.failures)
    assert (n_diff > 0) == (strict.exact_tflm_ref < 1.0)
    path = tmp_path / "parity.json"
    rep.save(path)
    saved = json.loads(path.read_text())
    assert saved["n_windows"] == 240 and saved["summary"] == rep.summary()
    assert "240 windows" in rep.summary() and "\n" not in rep.summary()


class _Faulty:
    """A runner that corrupts one (window, class) output: a fault the chain must catch."""

    def __init__(self, inner, window, cls, delta):
        self._inner, self._window, self._cls, self._delta = inner, window, cls, delta
        self._calls = 0

    def __getattr__(self, name):
        return getattr(self._inner, name)

    def run(self, ecg_q, demo_q=None):
        out = self._inner.run(ecg_q, demo_q).copy()
        if self._calls == self._window:
            out.reshape(-1)[self._cls] = np.clip(int(out.reshape(-1)[self._cls]) + self._delta,
                                                 -128, 127)
        self._calls += 1
        return out


def test_injected_fault_is_reported_with_record_class_and_values():
    model, tflite = conv_only_model()
    x = ecg_like_windows(40, seed=3)
    names = _names(40)
    ref = make_runner(tflite, "litert-ref")
    tflm = _Faulty(make_runner(tflite, "tflm"), window=17, cls=2, delta=5)
    xnn = _Faulty(make_runner(tflite, "litert"), window=9, cls=0, delta=-3)
    rep = parity_chain(tflite, x, None, names, thresholds=[0.5] * 3, classes=ABBREV,
                       runners={"tflm": tflm, "litert": xnn, "litert-ref": ref})
    assert not rep.passed
    assert rep.exact_tflm_ref == pytest.approx(39 / 40)
    bad = [f for f in rep.failures if f.check == "tflm-vs-ref"]
    assert len(bad) == 1
    f = bad[0]
    assert (f.record, f.window, f.cls) == (names[17], 17, ABBREV[2])
    expected = int(ref.run(ref.quantize_ecg(x[17])).reshape(-1)[2])
    assert f.b == expected and f.a == max(-128, min(127, expected + 5))
    assert names[17] in str(f) and ABBREV[2] in str(f)
    # A corrupted end-to-end XNNPACK output is reported, but it is no kernel fault.
    assert rep.max_lsb_xnnpack >= 3 and rep.xnnpack_within_1lsb < 1.0
    assert not [g for g in rep.failures if g.check == "xnnpack-op"]
    assert rep.divergence is not None and rep.divergence["record"] == names[17]
    assert "FAIL" in rep.summary()


def test_xnnpack_kernel_beyond_the_limit_fails_naming_op_and_record():
    model, tflite, sidecar = tiny_model()
    x, d = ecg_like_windows(60, seed=8), demo_vectors(60, seed=8)
    names = _names(60)
    # Every kernel is within 1 LSB, and some round differently: a 0-LSB limit must fail.
    rep = parity_chain(tflite, x, d, names, thresholds=sidecar["thresholds"], classes=ABBREV,
                       max_lsb=0)
    assert not rep.passed and rep.max_lsb_xnnpack_op == 1
    bad = [f for f in rep.failures if f.check == "xnnpack-op"]
    assert bad and all(f.op and f.record == names[f.window] and abs(f.a - f.b) == 1 for f in bad)
    off = {f"{o['op_name']} (op {o['op_index']})" for o in rep.xnnpack_ops if o["max_lsb"] > 0}
    assert {f.op for f in bad} == off
    assert str(bad[0]).startswith(f"xnnpack-op: {bad[0].record} window {bad[0].window} op {bad[0].op}")
    assert "limit 0" in rep.summary() and "FAIL" in rep.summary()
    ok = parity_chain(tflite, x, d, names, thresholds=sidecar["thresholds"], classes=ABBREV)
    assert ok.passed, ok.summary() + "\n" + "\n".join(map(str, ok.failures[:10]))
    assert ok.max_lsb_xnnpack_op == 1 and len(ok.xnnpack_ops) == len(rep.xnnpack_ops)


def test_end_to_end_xnnpack_lsb_is_reported_not_failing():
    model, tflite = conv_only_model()
    x = ecg_like_windows(40, seed=3)
    xnn = _Faulty(make_runner(tflite, "litert"), window=9, cls=0, delta=6)
    rep = parity_chain(tflite, x, None, _names(40), thresholds=[0.5] * 3, classes=ABBREV,
                       runners={"litert": xnn})
    assert rep.max_lsb_xnnpack >= 6 and rep.max_lsb_xnnpack_op <= 1
    assert rep.xnnpack_within_1lsb < 1.0 and rep.xnnpack_decision_agreement >= 119 / 120
    assert rep.passed, rep.summary()
    assert f"end to end max {rep.max_lsb_xnnpack} LSB" in rep.summary()


class _Saturated:
    """An XNNPACK runner whose every output is +127: every decision says 'present'."""

    def __init__(self, inner):
        self._inner = inner

    def __getattr__(self, name):
        return getattr(self._inner, name)

    def run(self, ecg_q, demo_q=None):
        return np.full_like(self._inner.run(ecg_q, demo_q), 127)


def test_xnnpack_decisions_must_agree_with_the_reference():
    model, tflite = conv_only_model()
    x = ecg_like_windows(40, seed=4)
    names = _names(40)
    rep = parity_chain(tflite, x, None, names, thresholds=[0.5] * 3, classes=ABBREV,
                       runners={"litert": _Saturated(make_runner(tflite, "litert"))})
    bad = [f for f in rep.failures if f.check == "xnnpack-decision"]
    assert rep.xnnpack_decision_agreement < 0.99 and not rep.passed
    assert len(bad) == round((1 - rep.xnnpack_decision_agreement) * 120)
    f = bad[0]
    assert f.record == names[f.window] and f.cls in ABBREV and f.a > 0.5 > f.b
    assert rep.max_lsb_xnnpack_op <= 1  # the kernels themselves are fine


def test_kernel_check_that_cannot_run_is_reported_not_failing(monkeypatch):
    import lrh_tflm.tflite.parity as parity
    from lrh_tflm.tflite.schema import ModelFormatError

    def refuse(*args, **kwargs):
        raise ModelFormatError("LiteRT cannot prepare op 3 (MEAN) on its own: test")

    monkeypatch.setattr(parity, "op_lsb_divergence", refuse)
    model, tflite = conv_only_model()
    rep = parity_chain(tflite, ecg_like_windows(10, seed=5), None, _names(10),
                       thresholds=[0.5] * 3, classes=ABBREV)
    assert rep.passed and rep.max_lsb_xnnpack_op is None and rep.xnnpack_ops == []
    assert "MEAN" in rep.xnnpack_error and rep.max_lsb_xnnpack is not None
    assert "not checked op by op" in rep.summary()


def test_every_window_of_the_real_records(samples_dir):
    """All windows of every readable real sample record (hop = window)."""
    from lrh_tflm.data.record import RecordError
    from lrh_tflm.infer import read_record, record_windows

    model, tflite, sidecar = tiny_model()
    cfg = PreprocessConfig(fs=125.0, window=WINDOW, leads=LEADS)
    from lrh_tflm.data.preprocess import demographics_vector

    xs, ds, names, skipped = [], [], [], 0
    for hea in sorted(samples_dir.glob("*/*.hea")):
        try:
            rec = read_record(hea)
            w, _ = record_windows(rec, cfg, WINDOW)
        except RecordError:
            skipped += 1
            continue
        xs.append(w)
        ds.append(np.repeat(demographics_vector(rec.age, rec.sex)[None], len(w), axis=0))
        names += [rec.name] * len(w)
    if not xs:
        pytest.skip("no readable real records")
    x, d = np.concatenate(xs), np.concatenate(ds)
    rep = parity_chain(tflite, x, d, names, thresholds=sidecar["thresholds"], classes=ABBREV,
                       keras_model=model, tflm_tolerance_lsb=0)
    assert rep.n_windows == len(x) >= 200
    assert rep.exact_tflm_ref == 1.0 and rep.max_lsb_tflm == 0, rep.divergence
    assert rep.decision_agreement >= 0.99
    assert rep.passed, rep.summary() + "\n" + "\n".join(map(str, rep.failures[:10]))


def test_xnnpack_that_cannot_prepare_the_model_is_reported_not_failing(monkeypatch):
    import lrh_tflm.tflite.parity as parity
    from lrh_tflm.tflite.schema import ModelFormatError

    real = parity.make_runner

    def no_xnnpack(tflite, rt, **kwargs):
        if rt == "litert":
            raise ModelFormatError("LiteRT (litert) cannot prepare the model: test")
        return real(tflite, rt, **kwargs)

    monkeypatch.setattr(parity, "make_runner", no_xnnpack)
    model, tflite = conv_only_model()
    rep = parity_chain(tflite, ecg_like_windows(10, seed=6), None, _names(10),
                       thresholds=[0.5] * 3, classes=ABBREV)
    assert rep.passed and rep.xnnpack_error.startswith("LiteRT (litert)")
    assert rep.max_lsb_xnnpack is None and rep.max_lsb_xnnpack_op is None
    assert rep.xnnpack_decision_agreement is None and rep.xnnpack_within_1lsb is None
    assert "XNNPACK cannot run the model" in rep.summary()
