"""Quantisation-aware training (tfmot), full-int8 conversion (TFLite) and op checks for TFLM.

* :func:`quantize_aware` clones a float model into a tfmot QAT model.  tfmot refuses two
  layers our models use: a stand-alone ``BatchNormalization`` (the paper's ReLU → BN, which
  no Conv+BN fold pattern matches) and ``Multiply`` (the SE scale).  Both get
  :class:`OutputQuantizeConfig`: the layer runs in float during training and its output goes
  through a moving-average 8-bit fake-quantiser, exactly what the int8 MUL/ADD the converter
  emits for them computes.  The students' Dense layers, written as 1×1 convolutions, get
  :class:`PointwiseQuantizeConfig` (one weight scale per tensor, as tfmot gives Dense).
  Every other layer uses tfmot's default 8-bit scheme.
* :func:`calibrate_ranges` starts the activation ranges of a fresh QAT model at the ranges the
  data has (tfmot starts them at [-6, 6] and its EMA barely moves them in a short fine-tune).
* :func:`convert_int8` writes a full-int8 flatbuffer with a static batch of 1 (int8 input
  and output, builtin int8 kernels only) — the only kind TFLM runs — laid out for the MCU
  by :mod:`lrh_tflm.mcu_layout` (names stripped, arena planned).  Called on a float
  model it is post-training quantisation (PTQ); on a QAT model it uses the learnt ranges.
* :func:`tflite_ops`, :func:`check_ops` and :func:`tensor_details` read the flatbuffer with
  the schema bundled in LiteRT (no TensorFlow import, no interpreter).
"""
from __future__ import annotations

import contextlib
from typing import Iterable, Iterator

import numpy as np

import lrh_tflm  # noqa: F401  (sets TF_USE_LEGACY_KERAS before TensorFlow is imported)

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

#: Input names of the model contract, in signature order.
INPUT_NAMES = ("ecg", "demo")


class ConversionError(ValueError):
    """A model that cannot become a TFLM-ready full-int8 flatbuffer (the message says why)."""


# --------------------------------------------------------------------------------------
# QAT
# --------------------------------------------------------------------------------------

#: Classes that subclass tfmot types, created on first use (importing tfmot imports TensorFlow).
_LAZY: dict[str, type] = {}


def output_quantize_config():
    """A new :class:`OutputQuantizeConfig` (output-only 8-bit fake quantisation)."""
    return _output_quantize_config_class()()


def _tfmot():
    import tensorflow_model_optimization as tfmot

    return tfmot


def _output_quantize_config_class():
    """Define :class:`OutputQuantizeConfig` lazily so importing this module stays TF-free."""
    if "OutputQuantizeConfig" in _LAZY:
        return _LAZY["OutputQuantizeConfig"]
    tfmot = _tfmot()
    qk = tfmot.quantization.keras

    class OutputQuantizeConfig(qk.QuantizeConfig):
        """Quantise only a layer's output (8-bit, asymmetric, moving-average range).

        Used for layers tfmot's default registry refuses but TFLite turns into int8 element-wise
        ops: ``Multiply`` (SE scale → MUL) and a ``BatchNormalization`` that follows a ReLU
        (→ MUL + ADD with int8 constants; its per-channel scale/offset are quantised by the
        converter, as for any constant operand).
        """

        def get_weights_and_quantizers(self, layer):
            return []

        def get_activations_and_quantizers(self, layer):
            return []

        def set_quantize_weights(self, layer, quantize_weights):
            pass

        def set_quantize_activations(self, layer, quantize_activations):
            pass

        def get_output_quantizers(self, layer):
            return [qk.quantizers.MovingAverageQuantizer(
                num_bits=8, per_axis=False, symmetric=False, narrow_range=False)]

        def get_config(self):
            return {}

    _LAZY["OutputQuantizeConfig"] = OutputQuantizeConfig
    return OutputQuantizeConfig


def pointwise_quantize_config():
    """A new :class:`PointwiseQuantizeConfig` (per-tensor weights, like a Dense layer)."""
    return _pointwise_quantize_config_class()()


def _pointwise_quantize_config_class():
    """Define :class:`PointwiseQuantizeConfig` lazily (importing tfmot imports TensorFlow)."""
    if "PointwiseQuantizeConfig" in _LAZY:
        return _LAZY["PointwiseQuantizeConfig"]
    qk = _tfmot().quantization.keras

    class PointwiseQuantizeConfig(qk.QuantizeConfig):
        """8-bit QAT of a 1×1 ``Conv2D`` on a ``(1, 1, c)`` tensor with one weight scale.

        The students run their Dense layers (SE squeeze/excite, head) as such convolutions so
        they convert to CONV_2D (FULLY_CONNECTED rounds differently in TFLM and LiteRT).
        tfmot's default for Conv2D quantises weights per output channel, which stores a
        float scale and an int64 zero point per channel for the weights and again for the
        bias: about 24 bytes a channel, 6 KB of flash for LRH-Net's head and SE gates.
        Quantising them per tensor, as tfmot does for Dense, keeps the flatbuffer as small as
        the Dense model's.  The activation (ReLU, sigmoid or linear) is fake-quantised as in
        tfmot's default scheme.
        """

        def get_weights_and_quantizers(self, layer):
            return [(layer.kernel, qk.quantizers.LastValueQuantizer(
                num_bits=8, per_axis=False, symmetric=True, narrow_range=True))]

        def get_activations_and_quantizers(self, layer):
            return [(layer.activation, qk.quantizers.MovingAverageQuantizer(
                num_bits=8, per_axis=False, symmetric=False, narrow_range=False))]

        def set_quantize_weights(self, layer, quantize_weights):
            layer.kernel = quantize_weights[0]

        def set_quantize_activations(self, layer, quantize_activations):
            layer.activation = quantize_activations[0]

        def get_output_quantizers(self, layer):
            return []

        def get_config(self):
            return {}

    _LAZY["PointwiseQuantizeConfig"] = PointwiseQuantizeConfig
    return PointwiseQuantizeConfig


def _custom_objects() -> dict:
    return {"OutputQuantizeConfig": _output_quantize_config_class(),
            "PointwiseQuantizeConfig": _pointwise_quantize_config_class()}


@contextlib.contextmanager
def quantize_scope() -> Iterator[None]:
    """Context in which saved QAT models (with our custom QuantizeConfig) can be loaded.

    Examples
    --------
    >>> with quantize_scope():                                   # doctest: +SKIP
    ...     model = tf_keras.models.load_model("student_qat.keras")
    """
    with _tfmot().quantization.keras.quantize_scope(_custom_objects()):
        yield


def _needs_output_config(layer, inbound_classes: set[str]) -> bool:
    """True for layers tfmot refuses that we quantise at their output."""
    import tf_keras as keras

    if isinstance(layer, keras.layers.Multiply):
        return True
    if isinstance(layer, keras.layers.BatchNormalization):
        # Conv/Dense → BN is folded by tfmot's transforms; only a stand-alone BN needs help.
        return not inbound_classes & {"Conv2D", "DepthwiseConv2D", "Dense"}
    return False


def _is_pointwise_dense(layer) -> bool:
    """A 1×1 Conv2D applied to a (1, 1, c) tensor: a Dense layer in convolution form."""
    import tf_keras as keras

    if type(layer) is not keras.layers.Conv2D or tuple(layer.kernel_size) != (1, 1):
        return False
    shape = layer.input_shape
    return isinstance(shape, tuple) and tuple(shape[1:3]) == (1, 1)


def _inbound_classes(model) -> dict[str, set[str]]:
    """Layer name → class names of the layers feeding it."""
    out: dict[str, set[str]] = {}
    for layer in model.layers:
        classes: set[str] = set()
        for node in layer.inbound_nodes:
            for inbound in node.inbound_layers if isinstance(node.inbound_layers, list) \
                    else [node.inbound_layers]:
                classes.add(type(inbound).__name__)
        out[layer.name] = classes
    return out


def quantize_aware(model):
    """Return a tfmot QAT clone of a float model (same input and output names).

    Every layer is annotated: stand-alone BatchNormalization and Multiply with
    :class:`OutputQuantizeConfig`, 1×1 convolutions on ``(1, 1, c)`` tensors (the students'
    Dense layers) with :class:`PointwiseQuantizeConfig`, the rest with tfmot's default 8-bit
    scheme (Conv+BN(+ReLU) folds, per-channel conv weights, Add/ReLU/pool output
    quantisers).  The float weights are copied.

    Parameters
    ----------
    model
        A functional ``tf_keras`` model built by :mod:`lrh_tflm.models`.

    Returns
    -------
    tf_keras.Model
        The QAT model, in training mode ready for fine-tuning; convert it with
        :func:`convert_int8`.
    """
    import tf_keras as keras

    qk = _tfmot().quantization.keras
    config_cls = _output_quantize_config_class()
    inbound = _inbound_classes(model)

    def annotate(layer):
        if isinstance(layer, keras.layers.InputLayer):
            return layer.__class__.from_config(layer.get_config())
        clone = layer.__class__.from_config(layer.get_config())
        if _needs_output_config(layer, inbound[layer.name]):
            return qk.quantize_annotate_layer(clone, quantize_config=config_cls())
        if _is_pointwise_dense(layer):
            return qk.quantize_annotate_layer(clone, quantize_config=pointwise_quantize_config())
        return qk.quantize_annotate_layer(clone)

    annotated = keras.models.clone_model(model, clone_function=annotate)
    annotated.set_weights(model.get_weights())
    with quantize_scope():
        return qk.quantize_apply(annotated)


#: tfmot's fake-quantisation ops (``quant_ops``), looked up by its quantisers at call time.
_FAKE_QUANT_OPS = ("MovingAvgQuantize", "LastValueQuantize", "AllValuesQuantize", "FixedQuantize")


@contextlib.contextmanager
def _recording_ranges(seen: dict) -> Iterator[None]:
    """Within the block, every tfmot fake-quantiser passes values through unchanged (the
    model computes in float, weights included) and the moving-average ones — the activation
    ranges — record the min/max of what they see, keyed by their range variables.

    The ops are swapped in tfmot's ``quant_ops`` module for the duration of the block only
    (use it for eager calls) and restored whatever happens.
    """
    import tensorflow as tf
    from tensorflow_model_optimization.python.core.quantization.keras import quant_ops

    originals = {name: getattr(quant_ops, name) for name in _FAKE_QUANT_OPS}

    def record(inputs, min_var, max_var, per_channel=False, **_):
        axes = list(range(inputs.shape.rank - 1)) if per_channel else None
        lo, hi = tf.reduce_min(inputs, axis=axes), tf.reduce_max(inputs, axis=axes)
        entry = seen.setdefault(min_var.ref(), [min_var, max_var, lo, hi])
        entry[2], entry[3] = tf.minimum(entry[2], lo), tf.maximum(entry[3], hi)
        return inputs

    def passthrough(inputs, *_, **__):
        return inputs

    for name in _FAKE_QUANT_OPS:
        setattr(quant_ops, name, record if name == "MovingAvgQuantize" else passthrough)
    try:
        yield
    finally:
        for name, op in originals.items():
            setattr(quant_ops, name, op)


def calibrate_ranges(qat_model, batches: Iterable) -> int:
    """Start every activation range of a fresh QAT model at the range the data really has.

    tfmot creates each moving-average quantiser with the range [-6, 6] and moves it towards
    the observed batch min/max with an EMA of decay 0.999, i.e. by 0.1 % a step: after the
    few dozen steps of a QAT fine-tune the ranges are still ≈ [-6, 6] (measured on the
    default build: every activation scale was 11.6–12.5 / 255), so ReLU outputs waste half
    the int8 codes and small activations get few levels.  This runs ``batches`` through the
    model in inference mode with every fake-quantiser passing values through (so it computes
    what the float model computes) and sets each activation range to the min/max seen
    (widened to include 0, as tfmot requires); QAT then refines the ranges with its EMA as
    usual.  Weight quantisers (last value) and the input quantiser (all values) track their
    data during training already and are left alone.

    Parameters
    ----------
    qat_model
        A model from :func:`quantize_aware`.
    batches
        Iterable of model inputs (e.g. ``{"ecg": …, "demo": …}`` numpy batches).

    Returns
    -------
    int
        Number of ranges set.
    """
    import tensorflow as tf

    seen: dict = {}
    count = 0
    with _recording_ranges(seen):
        for batch in batches:
            qat_model(batch, training=False)
            count += 1
    if count == 0:
        raise ValueError("no calibration batches")
    for min_var, max_var, lo, hi in seen.values():
        min_var.assign(tf.minimum(tf.cast(lo, min_var.dtype), 0.0))
        max_var.assign(tf.maximum(tf.cast(hi, max_var.dtype), 0.0))
    return len(seen)


def unquantized_layers(qat_model) -> list[str]:
    """Names of layers of a QAT model that are neither QuantizeWrapper, QuantizeLayer nor Input.

    An empty list means nothing was silently left in float.
    """
    import tf_keras as keras

    # QuantizeLayer (the input fake-quantiser) is not part of tfmot's public API.
    from tensorflow_model_optimization.python.core.quantization.keras.quantize_layer import (
        QuantizeLayer)

    qk = _tfmot().quantization.keras
    ok = (qk.QuantizeWrapper, qk.QuantizeWrapperV2, QuantizeLayer, keras.layers.InputLayer)
    return [layer.name for layer in qat_model.layers if not isinstance(layer, ok)]


# --------------------------------------------------------------------------------------
# Conversion
# --------------------------------------------------------------------------------------

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
    return tf.lite.TFLiteConverter.from_concrete_functions([concrete], model)


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
        (:func:`lrh_tflm.mcu_layout.layout_for_mcu`); the arithmetic is unchanged.

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
    from lrh_tflm.mcu_layout import layout_for_mcu

    return layout_for_mcu(tflite)


# --------------------------------------------------------------------------------------
# Flatbuffer inspection
# --------------------------------------------------------------------------------------

def litert_schema():
    """LiteRT's bundled flatbuffer schema module (object API: ``ModelT`` … ``Pack``)."""
    from ai_edge_litert import schema_py_generated as schema

    return schema


def unpack_model(tflite: bytes, error: type[Exception] = ConversionError):
    """The flatbuffer as LiteRT's ``ModelT`` object tree; garbage raises ``error``."""
    schema = litert_schema()
    try:
        return schema.ModelT.InitFromObj(schema.Model.GetRootAs(bytearray(tflite), 0))
    except Exception as err:  # noqa: BLE001  (flatbuffers raises anything on garbage)
        raise error(f"not a TFLite flatbuffer: {err}") from None


def is_constant(model, tensor) -> bool:
    """Whether a tensor of an unpacked flatbuffer (``ModelT``) holds constant data (weights,
    biases, shapes) rather than an activation.  Large models keep buffer contents outside
    the flatbuffer (``offset``/``size``) instead of in ``data``."""
    if tensor.buffer <= 0 or tensor.buffer >= len(model.buffers or []):
        return False
    buf = model.buffers[tensor.buffer]
    return (buf.data is not None and len(buf.data) > 0) or bool(getattr(buf, "offset", 0))


def _enum_names(enum_cls) -> dict[int, str]:
    return {v: k for k, v in vars(enum_cls).items() if not k.startswith("_") and isinstance(v, int)}


def op_name(model, op) -> str:
    """Builtin op name of one operator of a parsed model (custom ops as ``CUSTOM:name``).

    Works on the object API of either generated schema (LiteRT's or TFLM's): the builtin
    codes are the same numbers.
    """
    schema = litert_schema()
    code = model.operatorCodes[op.opcodeIndex]
    builtin = max(code.builtinCode, code.deprecatedBuiltinCode)
    if builtin == schema.BuiltinOperator.CUSTOM:
        custom = code.customCode.decode() if isinstance(code.customCode, bytes) \
            else str(code.customCode)
        return f"CUSTOM:{custom}"
    return _enum_names(schema.BuiltinOperator).get(builtin, f"UNKNOWN_{builtin}")


def tflite_ops(tflite: bytes) -> list[str]:
    """Builtin op names used by a flatbuffer, sorted, each once (custom ops as ``CUSTOM:name``)."""
    model = unpack_model(tflite)
    return sorted({op_name(model, op) for sub in model.subgraphs or []
                   for op in sub.operators or []})


def _float_tensors(tflite: bytes) -> list[str]:
    """Names of float32 tensors that are operator inputs or outputs (constants included)."""
    schema = litert_schema()
    model = unpack_model(tflite)
    out = []
    for sub in model.subgraphs or []:
        used = {i for op in sub.operators or [] for i in list(op.inputs) + list(op.outputs)
                if i >= 0}
        for i in sorted(used):
            tensor = sub.tensors[i]
            if tensor.type in (schema.TensorType.FLOAT32, schema.TensorType.FLOAT16):
                out.append(tensor.name.decode() if isinstance(tensor.name, bytes) else tensor.name)
    return out


def check_ops(tflite: bytes, allowed: frozenset[str] = TFLM_INT8_OPS) -> list[str]:
    """Verify a flatbuffer uses only TFLM int8 ops and no float tensors.

    Returns
    -------
    list of str
        The ops used (as :func:`tflite_ops`).

    Raises
    ------
    ConversionError
        Listing the forbidden ops (with a hint when they betray dynamic shapes) and any
        float tensors (a hybrid or float model, which TFLM rejects).
    """
    ops = tflite_ops(tflite)
    bad = [op for op in ops if op not in allowed]
    floats = _float_tensors(tflite)
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


def _clean_name(raw: str) -> str:
    """``serving_default_ecg:0`` → ``ecg``; ``StatefulPartitionedCall:0`` stays as is."""
    for name in INPUT_NAMES + ("logits",):
        if raw == name or raw.split(":")[0].endswith(f"_{name}") or raw.split(":")[0] == name:
            return name
    return raw


def tensor_details(tflite: bytes) -> dict[str, dict]:
    """Quantisation parameters, shape and dtype of the model's inputs and outputs.

    Returns
    -------
    dict
        ``{"inputs": {name: detail}, "outputs": {name: detail}}`` in flatbuffer order, with
        detail = ``{"index", "shape", "dtype", "scale", "zero_point"}``.  Input names are the
        contract's ``ecg``/``demo``; a single output is called ``logits``.  ``scale`` and
        ``zero_point`` are ``None`` for an unquantised tensor.
    """
    schema = litert_schema()
    dtypes = _enum_names(schema.TensorType)
    model = unpack_model(tflite)
    sub = model.subgraphs[0]

    def detail(index: int) -> tuple[str, dict]:
        tensor = sub.tensors[index]
        name = tensor.name.decode() if isinstance(tensor.name, bytes) else str(tensor.name)
        q = tensor.quantization
        scale = zero = None
        if q is not None and q.scale is not None and len(q.scale):
            scale, zero = float(q.scale[0]), int(q.zeroPoint[0])
        return _clean_name(name), {
            "index": int(index),
            "shape": [int(d) for d in tensor.shape],
            "dtype": dtypes.get(tensor.type, str(tensor.type)).lower(),
            "scale": scale,
            "zero_point": zero,
        }

    ins = dict(detail(i) for i in sub.inputs)
    outs = [detail(i) for i in sub.outputs]
    if len(outs) == 1:
        outs = [("logits", outs[0][1])]
    return {"inputs": ins, "outputs": dict(outs)}


__all__ = [
    "TFLM_INT8_OPS", "KNOWN_FORBIDDEN", "ConversionError", "quantize_aware", "quantize_scope",
    "output_quantize_config", "pointwise_quantize_config", "calibrate_ranges", "is_constant",
    "litert_schema", "unpack_model",
    "unquantized_layers", "convert_int8", "convert_float", "tflite_ops", "check_ops",
    "tensor_details",
]
