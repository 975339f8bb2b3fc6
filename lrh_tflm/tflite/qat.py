"""Quantisation-aware training with tfmot, for the models :mod:`lrh_tflm.models` builds.

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
* :func:`quantize_scope` is the context in which saved QAT weights load
  (:func:`lrh_tflm.artifact.load_model` uses it).

tfmot, tf_keras and TensorFlow are imported on first use: importing this module stays cheap,
so the CLI and the artefact reader can import it at their top.
"""
from __future__ import annotations

import contextlib
import functools
from typing import Iterable, Iterator


def output_quantize_config():
    """A new :class:`OutputQuantizeConfig` (output-only 8-bit fake quantisation)."""
    return _output_quantize_config_class()()


def _tfmot():
    import tensorflow_model_optimization as tfmot

    return tfmot


@functools.lru_cache(maxsize=None)
def _output_quantize_config_class():
    """Define :class:`OutputQuantizeConfig` on first use (it subclasses a tfmot type, and
    importing tfmot imports TensorFlow); cached so every caller gets the same class."""
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

    return OutputQuantizeConfig


def pointwise_quantize_config():
    """A new :class:`PointwiseQuantizeConfig` (per-tensor weights, like a Dense layer)."""
    return _pointwise_quantize_config_class()()


@functools.lru_cache(maxsize=None)
def _pointwise_quantize_config_class():
    """Define :class:`PointwiseQuantizeConfig` on first use (see
    :func:`_output_quantize_config_class`)."""
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
        QuantizeLayer,
    )

    qk = _tfmot().quantization.keras
    ok = (qk.QuantizeWrapper, qk.QuantizeWrapperV2, QuantizeLayer, keras.layers.InputLayer)
    return [layer.name for layer in qat_model.layers if not isinstance(layer, ok)]


__all__ = ["quantize_aware", "quantize_scope", "output_quantize_config",
           "pointwise_quantize_config", "calibrate_ranges", "unquantized_layers"]
