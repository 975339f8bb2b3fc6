"""Full-int8 conversion (TFLite converter) and the op check for TFLM.

* :func:`convert_int8` writes a full-int8 flatbuffer with a static batch of 1 (int8 input
  and output, builtin int8 kernels only) — the only kind TFLM runs — laid out for the MCU
  by :mod:`lrh_tflm.tflite.layout` (names stripped, arena planned).  Called on a float
  model it is post-training quantisation (PTQ); on a QAT model (:mod:`lrh_tflm.tflite.qat`)
  it uses the learnt ranges.
* :func:`convert_float` writes the float reference flatbuffer.
* :func:`check_ops` reads the result with :mod:`lrh_tflm.tflite.schema` and refuses ops TFLM
  lacks and float tensors.

TensorFlow is imported inside the converting functions only: the op check needs none.
"""
from __future__ import annotations

from typing import Iterable

import numpy as np

from lrh_tflm.tflite.layout import layout_for_mcu
from lrh_tflm.tflite.schema import INPUT_NAMES, float_tensors, model_ops, unpack_model

#: Builtin ops TFLM implements for int8 that our models may legitimately contain.
#: Anything else (notably SHAPE, GATHER, REDUCE_PROD, PACK, EXPAND_DIMS, STRIDED_SLICE,
#: which betray dynamic shapes, and float-only kernels) fails :func:`check_ops`.
TFLM_INT8_OPS: frozenset[str] = frozenset({
    "ADD", "AVERAGE_POOL_2D", "CONCATENATION", "CONV_2D", "DEPTHWISE_CONV_2D", "DEQUANTIZE",
    "FULLY_CONNECTED", "LOGISTIC", "MAX_POOL_2D", "MEAN", "MUL", "PAD", "QUANTIZE", "RELU",
    "RELU6", "RESHAPE", "SOFTMAX", "SUB", "TANH",
})

#: Ops seen in converted Keras graphs that TFLM lacks or that mean shapes were not static.
KNOWN_FORBIDDEN: frozenset[str] = frozenset({
    "SHAPE", "GATHER", "REDUCE_PROD", "PACK", "EXPAND_DIMS", "STRIDED_SLICE", "FILL",
    "BROADCAST_TO", "CAST",
})


class ConversionError(ValueError):
    """A model that cannot become a TFLM-ready full-int8 flatbuffer (the message says why)."""


def _input_shapes(model) -> tuple[tuple[int, ...], tuple[int, ...]]:
    """Batch-1 shapes of the ``ecg`` and ``demo`` inputs."""
    shapes = {}
    for tensor in model.inputs:
        name = tensor.name.split(":")[0]
        shapes[name] = (1,) + tuple(int(d) for d in tensor.shape[1:])
    missing = [n for n in INPUT_NAMES if n not in shapes]
    if missing:
        raise ConversionError(f"model inputs must be named {INPUT_NAMES}, "
                              f"got {sorted(shapes)}")
    return shapes["ecg"], shapes["demo"]


def _batch1_converter(model, batch1: bool):
    """A TFLiteConverter for a concrete function with a fixed (1, …) input signature."""
    import tensorflow as tf

    ecg_shape, demo_shape = _input_shapes(model)
    if not batch1:
        ecg_shape, demo_shape = (None,) + ecg_shape[1:], (None,) + demo_shape[1:]
    spec = [tf.TensorSpec(ecg_shape, tf.float32, name="ecg"),
            tf.TensorSpec(demo_shape, tf.float32, name="demo")]

    @tf.function(input_signature=spec)
    def serve(ecg, demo):
        return {"logits": model({"ecg": ecg, "demo": demo}, training=False)}

    concrete = serve.get_concrete_function()
    # The converter saves its trackable object as a SavedModel before converting.  Given the
    # Keras model, that save traces every layer's call functions (about 15 s of a 20-s
    # conversion of the smoke student); a bare module holding the variables is all the
    # frozen graph needs, and gives byte-identical flatbuffers.
    holder = tf.Module()
    holder.variables_of_model = list(model.variables)
    return tf.lite.TFLiteConverter.from_concrete_functions([concrete], holder)


def convert_float(model, *, batch1: bool = True) -> bytes:
    """Convert to a float32 TFLite flatbuffer (static batch 1 by default), for reference runs."""
    converter = _batch1_converter(model, batch1)
    return bytes(converter.convert())


def _fit_shape(x, shape) -> np.ndarray | None:
    """``x`` as float32 of ``shape`` if it differs only in singleton axes, else ``None``.

    Comparing the non-singleton axes (not just the size) rejects a transposed (leads, T)
    window instead of silently scrambling it.
    """
    x = np.asarray(x, dtype=np.float32)
    if tuple(d for d in x.shape if d != 1) != tuple(d for d in shape if d != 1):
        return None
    return x.reshape(shape)


def _representative(batches: Iterable, ecg_shape, demo_shape):
    """Yield ``[ecg, demo]`` float32 arrays of batch 1, checking their shapes."""
    count = 0
    for i, item in enumerate(batches):
        try:
            ecg, demo = item
        except (TypeError, ValueError):
            raise ConversionError(f"representative item {i} is not an (ecg, demo) pair") from None
        ecg, demo = _fit_shape(ecg, ecg_shape), _fit_shape(demo, demo_shape)
        if ecg is None or demo is None:
            raise ConversionError(f"representative item {i} does not fit the model inputs "
                                  f"ecg {ecg_shape} and demo {demo_shape} (batch 1)")
        if not (np.isfinite(ecg).all() and np.isfinite(demo).all()):
            raise ConversionError(f"representative item {i} contains NaN or infinity")
        count += 1
        yield [ecg, demo]
    if count == 0:
        raise ConversionError("the representative dataset is empty")


def _check_calibrated(model) -> None:
    """Refuse a QAT model whose input fake-quantisers never saw data (their range is empty).

    Such a model converts without complaint into int8 inputs with a scale of ~1e-9, i.e. a
    model that sees only zeros.  Float models (the PTQ path) have no quantisers and pass.
    """
    for layer in model.layers:
        if type(layer).__name__ != "QuantizeLayer":
            continue
        values = {w.name.split("/")[-1].split(":")[0]: float(w.numpy()) for w in layer.weights
                  if w.shape == ()}
        lo = next((v for k, v in values.items() if k.endswith("_min")), None)
        hi = next((v for k, v in values.items() if k.endswith("_max")), None)
        if lo is not None and hi is not None and not hi - lo > 0:
            raise ConversionError(
                f"QAT model input quantiser {layer.name!r} has an empty range [{lo}, {hi}]: "
                "fine-tune the QAT model (at least one training step) before converting, "
                "or convert the float model for post-training quantisation")


def convert_int8(model, representative: Iterable, *, batch1: bool = True,
                 mcu_layout: bool = True) -> bytes:
    """Convert a float or QAT model to a full-int8 TFLite flatbuffer for TFLM.

    Optimisations DEFAULT, the representative dataset for activation ranges, builtin int8
    kernels only, int8 input and output, static batch-1 input shapes ``(1, 1, T, L)`` and
    ``(1, 5)``.  On a float model this is post-training quantisation (the ``ptq`` path).

    Parameters
    ----------
    model
        Float or QAT ``tf_keras`` model with inputs ``ecg`` and ``demo``.
    representative
        Iterable of ``(ecg, demo)`` numpy batches of size 1 (a re-iterable sequence or a
        one-shot generator; it is consumed once).
    batch1
        Fix the batch dimension to 1 (required for TFLM: a dynamic batch brings SHAPE/PACK
        ops).  ``False`` is only for diagnostics.
    mcu_layout
        Blank intermediate tensor names and embed the offline arena plan
        (:func:`lrh_tflm.tflite.layout.layout_for_mcu`); the arithmetic is unchanged.

    Returns
    -------
    bytes
        The flatbuffer.  Call :func:`check_ops` to verify it is TFLM-clean.
    """
    import tensorflow as tf

    _check_calibrated(model)
    ecg_shape, demo_shape = _input_shapes(model)
    items = list(_representative(representative, ecg_shape, demo_shape))
    converter = _batch1_converter(model, batch1)
    converter.optimizations = [tf.lite.Optimize.DEFAULT]
    converter.representative_dataset = lambda: iter(items)
    converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
    converter.inference_input_type = tf.int8
    converter.inference_output_type = tf.int8
    tflite = bytes(converter.convert())
    if not (mcu_layout and batch1):
        return tflite
    return layout_for_mcu(tflite)


def check_ops(tflite: bytes, allowed: frozenset[str] = TFLM_INT8_OPS) -> list[str]:
    """Verify a flatbuffer uses only TFLM int8 ops and no float tensors.

    Returns
    -------
    list of str
        The ops used (as :func:`lrh_tflm.tflite.schema.tflite_ops`).

    Raises
    ------
    ConversionError
        Listing the forbidden ops (with a hint when they betray dynamic shapes) and any
        float tensors (a hybrid or float model, which TFLM rejects).
    """
    model = unpack_model(tflite, ConversionError)
    ops = model_ops(model)
    bad = [op for op in ops if op not in allowed]
    floats = float_tensors(model)
    problems = []
    if bad:
        hint = ""
        if set(bad) & KNOWN_FORBIDDEN:
            hint = (" (SHAPE/GATHER/PACK/REDUCE_PROD/EXPAND_DIMS/STRIDED_SLICE come from "
                    "dynamic shapes, e.g. a Dense on a 4-D tensor or a dynamic batch; "
                    "convert with batch1=True and keep Dense layers on 2-D tensors)")
        problems.append(f"ops not allowed for TFLM int8: {', '.join(bad)}{hint}")
    if floats:
        shown = ", ".join(floats[:8]) + (" …" if len(floats) > 8 else "")
        problems.append(f"{len(floats)} float tensors (not a full-int8 model): {shown}")
    if problems:
        raise ConversionError("; ".join(problems))
    return ops


__all__ = ["TFLM_INT8_OPS", "KNOWN_FORBIDDEN", "ConversionError", "convert_int8",
           "convert_float", "check_ops"]
