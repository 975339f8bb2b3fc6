"""The three runtimes behind one API, input mapping by name, and the measured TFLM arena.

``tiny_model()`` (a small LRH-Net-MCU student at window 256, 2 leads, 3 classes, converted to
full int8 once per test session) and ``ecg_like_windows()`` are shared with the parity,
export and run tests.
"""
from __future__ import annotations

import functools

import numpy as np
import pytest

import lrh_tflm  # noqa: F401  (TF_USE_LEGACY_KERAS before TensorFlow)
from lrh_tflm.config import PreprocessConfig
from lrh_tflm.tflite.parity import op_lsb_divergence
from lrh_tflm.tflite.runtime import (
    RUNTIMES,
    dequantize_array,
    make_runner,
    measure_arena,
    quantize_array,
    recorded_arena,
)
from lrh_tflm.tflite.schema import ModelFormatError, TensorInfo, find_inputs, io_details

WINDOW, LEADS, CLASSES = 256, ("I", "II"), ("164889003", "426783006", "713427006|59118001")
ABBREV = ("AF", "NSR", "CRBBB|RBBB")


def ecg_like_windows(n: int, seed: int = 0, window: int = WINDOW, n_leads: int = len(LEADS)):
    """Float, z-scored ECG-like windows ``(n, 1, window, leads)``: beats, baseline wander, noise."""
    from lrh_tflm.data.preprocess import normalise_window

    rng = np.random.default_rng(seed)
    t = np.arange(window) / 125.0
    out = np.empty((n, 1, window, n_leads), np.float32)
    for i in range(n):
        hr = rng.uniform(0.8, 2.5)  # beats per second
        phase = rng.uniform(0, 1)
        beat = np.exp(-((((t * hr + phase) % 1.0) - 0.5) ** 2) / (2 * rng.uniform(0.002, 0.02)))
        for lead in range(n_leads):
            x = rng.uniform(0.3, 2.0) * beat * rng.choice([-1, 1])
            x = x + 0.3 * np.sin(2 * np.pi * rng.uniform(0.1, 0.5) * t + rng.uniform(0, 6))
            x = x + rng.normal(0, rng.uniform(0.01, 0.2), window)
            out[i, 0, :, lead] = x
    return normalise_window(out, PreprocessConfig(window=window))


def demo_vectors(n: int, seed: int = 0) -> np.ndarray:
    from lrh_tflm.data.preprocess import demographics_vector

    rng = np.random.default_rng(seed)
    sexes = [None, "M", "F"]
    return np.stack([demographics_vector(None if rng.random() < 0.2 else rng.uniform(20, 90),
                                         sexes[int(rng.integers(0, 3))]) for _ in range(n)])


@functools.lru_cache(maxsize=1)
def tiny_model():
    """(Keras float model, int8 flatbuffer bytes, sidecar dict) — built once per session.

    Briefly fitted on targets that follow from the inputs (sex, age, and a demographics mix),
    so the logits spread out like a trained model's instead of clustering on the thresholds.
    """
    import tf_keras as keras

    from lrh_tflm.config import StudentConfig
    from lrh_tflm.models import build_student
    from lrh_tflm.tflite.convert import convert_int8

    keras.utils.set_random_seed(0)
    model = build_student(StudentConfig(variant="lrh-net-mcu", width=0.5, dense=16),
                          len(LEADS), WINDOW, len(CLASSES))
    x, d = ecg_like_windows(128, seed=1), demo_vectors(128, seed=1)
    y = np.stack([d[:, 2], (d[:, 0] > 0.55).astype(np.float32), d[:, 3]], axis=1)
    model.compile(optimizer=keras.optimizers.Adam(1e-2),
                  loss=keras.losses.BinaryCrossentropy(from_logits=True))
    model.fit({"ecg": x, "demo": d}, y, epochs=6, batch_size=16, verbose=0)
    rep = [(x[i:i + 1], d[i:i + 1]) for i in range(32)]
    tflite = convert_int8(model, rep)
    cfg = PreprocessConfig(fs=125.0, window=WINDOW, leads=LEADS)
    sidecar = {
        "leads": list(LEADS), "fs": cfg.fs, "window": WINDOW,
        "classes": {"classes": list(CLASSES), "abbreviations": list(ABBREV)},
        "thresholds": [0.5, 0.4, 0.6],
        "preprocessing": {"fs": cfg.fs, "window": WINDOW, "band_hz": list(cfg.band_hz),
                          "filter_order": cfg.filter_order, "normalise": cfg.normalise,
                          "zscore_eps": cfg.zscore_eps, "leads": list(LEADS)},
    }
    return model, tflite, sidecar


@pytest.fixture(scope="module")
def model_bytes():
    return tiny_model()[1]


def test_inputs_found_by_name_in_flatbuffer_order(model_bytes):
    inputs, outputs = io_details(model_bytes)
    ecg, demo = find_inputs(inputs)
    assert ecg.shape == (1, 1, WINDOW, len(LEADS)) and demo.shape == (1, 5)
    assert ecg.dtype is np.int8 and demo.dtype is np.int8 and outputs[0].dtype is np.int8
    assert ecg.scale > 0 and demo.scale > 0 and outputs[0].scale > 0
    assert {ecg.position, demo.position} == {0, 1}
    assert outputs[0].shape == (1, len(CLASSES))


def test_every_runtime_maps_inputs_the_same_way(model_bytes):
    runners = {rt: make_runner(model_bytes, rt) for rt in RUNTIMES}
    for r in runners.values():
        assert r.ecg.name == runners["litert-ref"].ecg.name
        assert (r.ecg.scale, r.ecg.zero_point) == (runners["tflm"].ecg.scale,
                                                  runners["tflm"].ecg.zero_point)
    x, d = ecg_like_windows(8, seed=5), demo_vectors(8, seed=5)
    swapped = 0
    for i in range(8):
        outs = {rt: r.run(r.quantize_ecg(x[i]), r.quantize_demo(d[i])) for rt, r in runners.items()}
        assert outs["tflm"].dtype == np.int8 and outs["tflm"].shape == (1, len(CLASSES))
        # Same kernels family: equal up to the rare FULLY_CONNECTED rounding difference
        # (tests/test_parity.py pins that down); a swapped input would be far off.
        assert np.abs(outs["tflm"].astype(int) - outs["litert-ref"]).max() <= 2
        assert np.abs(outs["litert"].astype(int) - outs["litert-ref"]).max() <= 4
        # The demographics matter: a different demo vector changes at least some outputs,
        # so a swapped input mapping in one runtime could not go unnoticed.
        other = runners["tflm"].run(runners["tflm"].quantize_ecg(x[i]),
                                    runners["tflm"].quantize_demo(d[(i + 1) % 8]))
        swapped += int(not np.array_equal(other, outs["tflm"]) or np.array_equal(d[i], d[(i + 1) % 8]))
    assert swapped >= 4


def test_quantize_array_rounds_half_to_even_and_saturates():
    # The rule the firmware's rintf follows; no model needed, only the tensor's parameters.
    info = TensorInfo("ecg", 0, (8,), np.int8, 1.0, 0)
    q = quantize_array(np.array([0.5, 1.5, 2.5, -0.5, -1.5, 1000.0, -1000.0, 0.26]), info)
    assert q.dtype == np.int8 and q.tolist() == [0, 2, 2, 0, -2, 127, -128, 0]
    info = TensorInfo("ecg", 0, (2,), np.int8, 0.05, -3)
    q = quantize_array(np.array([0.0, 0.1]), info)
    assert q.tolist() == [-3, -1]
    np.testing.assert_allclose(dequantize_array(q, info), [0.0, 0.1], atol=1e-7)


def test_quantize_and_dequantize_use_the_models_scales(model_bytes):
    r = make_runner(model_bytes, "litert-ref")
    x = np.array([0.0, r.ecg.scale * 2.5, -1000.0, 1000.0], np.float32)
    q = r.quantize_ecg(x)
    # 2.5 rounds half to even → 2; saturation at the int8 limits.
    assert q.tolist() == [r.ecg.zero_point, r.ecg.zero_point + 2, -128, 127]
    logits = r.dequantize_output(np.array([r.output.zero_point, r.output.zero_point + 4], np.int8))
    np.testing.assert_allclose(logits, [0.0, 4 * r.output.scale], rtol=1e-6)


def test_run_rejects_unquantized_or_misshaped_input(model_bytes):
    r = make_runner(model_bytes, "tflm")
    with pytest.raises(ValueError, match="quantise it first"):
        r.run(np.zeros((WINDOW, 2), np.float32), np.zeros(5, np.int8))
    with pytest.raises(ValueError, match="expects shape"):
        r.run(np.zeros((WINDOW, 3), np.int8), np.zeros(5, np.int8))
    with pytest.raises(ValueError, match="demographics"):
        r.run(np.zeros((WINDOW, 2), np.int8))


def test_unknown_runtime_and_garbage_bytes_are_clear_errors(model_bytes):
    with pytest.raises(ValueError, match="unknown runtime"):
        make_runner(model_bytes, "tpu")
    with pytest.raises(ModelFormatError, match="not a TFLite flatbuffer"):
        make_runner(b"\x00" * 64, "tflm")


def test_arena_binary_search_agrees_with_recording_allocator(model_bytes):
    recorded = recorded_arena(model_bytes)
    measured = measure_arena(model_bytes)
    assert 1000 < measured < 10 * len(model_bytes)
    # The smallest working arena and the allocator's own total agree to a few alignment steps.
    assert abs(measured - recorded) <= 64, (measured, recorded)
    # The measured size is really enough, and really (nearly) the minimum.
    r = make_runner(model_bytes, "tflm", arena_size=measured)
    r.run(np.zeros((WINDOW, 2), np.int8), np.zeros(5, np.int8))
    with pytest.raises(ModelFormatError):
        make_runner(model_bytes, "tflm", arena_size=measured - 64)


def _quantized(r, n, seed):
    x, d = ecg_like_windows(n, seed=seed), demo_vectors(n, seed=seed)
    return (np.stack([r.quantize_ecg(w) for w in x]), np.stack([r.quantize_demo(v) for v in d]))


def test_op_lsb_divergence_covers_every_op_in_execution_order(model_bytes):
    from ai_edge_litert.interpreter import Interpreter

    r = make_runner(model_bytes, "litert-ref")
    ecg_q, demo_q = _quantized(r, 60, seed=13)
    ops = op_lsb_divergence(model_bytes, ecg_q, demo_q)
    interp = Interpreter(model_content=model_bytes)
    expected = [(int(o["index"]), o["op_name"]) for o in interp._get_ops_details()]
    assert [(o["op_index"], o["op_name"]) for o in ops] == expected
    assert {"CONV_2D", "MUL", "ADD", "LOGISTIC", "MEAN", "CONCATENATION"} <= {n for _, n in expected}
    for o in ops:
        out_size = sum(int(np.prod(interp._get_tensor_details(int(t), 0)["shape"]))
                       for t in interp._get_ops_details()[o["op_index"]]["outputs"])
        assert o["size"] == 60 * out_size and 0 <= o["mismatched"] <= o["size"]
        assert len(o["window_max_lsb"]) == len(o["window_worst"]) == 60
        assert o["max_lsb"] == max(o["window_max_lsb"]) == o["window_max_lsb"][o["worst_window"]]
        assert abs(o["worst_xnnpack"] - o["worst_ref"]) == o["max_lsb"]
        assert (o["mismatched"] > 0) == (o["max_lsb"] > 0)
        # The measured fact behind the parity chain: every XNNPACK kernel is within 1 LSB.
        assert o["max_lsb"] <= 1, o
    # XNNPACK really ran its own kernels (they round some values differently from the
    # reference), so the comparison is not the reference against itself.
    assert sum(o["mismatched"] for o in ops) > 0


def test_op_lsb_divergence_rejects_bad_inputs(model_bytes):
    r = make_runner(model_bytes, "litert-ref")
    ecg_q, demo_q = _quantized(r, 3, seed=2)
    with pytest.raises(ModelFormatError, match="not a TFLite flatbuffer"):
        op_lsb_divergence(b"\x00" * 64, ecg_q, demo_q)
    with pytest.raises(ValueError, match="demographics"):
        op_lsb_divergence(model_bytes, ecg_q)
    with pytest.raises(ValueError, match="quantise it first"):
        op_lsb_divergence(model_bytes, ecg_q.astype(np.float32), demo_q)
