"""Parameter and multiply-accumulate counts of a Keras model, computed analytically per layer.

Works on float models and on tfmot QAT models (``QuantizeWrapper`` layers are unwrapped).
"""
from __future__ import annotations

import math

import tf_keras as keras

layers = keras.layers


def _n_weights(weights) -> int:
    return int(sum(math.prod(int(d) for d in w.shape) for w in weights))


def _inner(layer):
    """The Keras layer inside a tfmot ``QuantizeWrapper`` (or the layer itself)."""
    return getattr(layer, "layer", layer)


def count_params(model: keras.Model) -> dict[str, int]:
    """Trainable and total parameter counts.

    ``total`` includes the BatchNorm moving statistics, as Keras's ``count_params()`` does;
    the paper's numbers are *trainable* counts.  QAT quantiser variables (min/max trackers)
    are excluded: the counts of a QAT model are those of the float layers it wraps.

    Returns
    -------
    dict
        ``{"trainable": int, "total": int}``.
    """
    trainable = total = 0
    for layer in model.layers:
        if type(layer).__name__ == "QuantizeLayer":
            continue  # the input fake-quantiser: only range trackers
        if hasattr(layer, "layer"):
            # A QuantizeWrapper owns the float weights (named "<inner>/…") and its
            # quantiser state (named "quant_<inner>/…"); the inner layer's own weight lists
            # are incomplete once its kernel is swapped for a quantised one.
            own = f"{layer.layer.name}/"
            trainable += _n_weights(w for w in layer.trainable_weights if w.name.startswith(own))
            total += _n_weights(w for w in layer.weights if w.name.startswith(own))
            continue
        trainable += _n_weights(layer.trainable_weights)
        total += _n_weights(layer.weights)
    return {"trainable": trainable, "total": total}


def _shape(tensor_shape) -> tuple[int, ...]:
    """Non-batch dimensions of a static Keras shape."""
    dims = tuple(tensor_shape)[1:]
    if any(d is None for d in dims):
        raise ValueError(f"count_macs needs static shapes, got {tuple(tensor_shape)}")
    return tuple(int(d) for d in dims)


def layer_macs(layer) -> int:
    """Multiply-accumulates of one layer for one window (batch 1).

    Conventions: ``Conv2D`` = out_h·out_w·k_h·k_w·(c_in/groups)·c_out;
    ``DepthwiseConv2D`` = out_h·out_w·k_h·k_w·c_in·depth_multiplier; ``Dense`` = in·out per
    input row (a Dense on an N-D tensor counts every leading position).  Bias adds,
    BatchNorm (folded or a per-channel MUL/ADD), activations, pooling, Add and Multiply are
    element-wise and counted as 0, the usual convention of MAC tables in the literature.
    """
    inner = _inner(layer)
    if isinstance(inner, layers.DepthwiseConv2D):
        out = _shape(inner.output_shape)
        kh, kw = inner.kernel_size
        cin = _shape(inner.input_shape)[-1]
        return math.prod(out[:-1]) * kh * kw * cin * int(inner.depth_multiplier)
    if isinstance(inner, layers.Conv2D):
        out = _shape(inner.output_shape)
        kh, kw = inner.kernel_size
        cin = _shape(inner.input_shape)[-1]
        return math.prod(out[:-1]) * kh * kw * (cin // int(inner.groups)) * inner.filters
    if isinstance(inner, layers.Dense):
        shape = _shape(inner.input_shape)
        return math.prod(shape[:-1]) * shape[-1] * inner.units
    return 0


def count_macs(model: keras.Model) -> int:
    """Multiply-accumulates per window at batch 1, summed over layers (see :func:`layer_macs`).

    The paper's LRH-Net at 2 leads × 4096 samples counts 96,482,930 MACs (≈ 95 M, DESIGN §4;
    24 classes, SE and head Dense layers included).
    """
    return int(sum(layer_macs(layer) for layer in model.layers))


def summary(model: keras.Model) -> dict[str, int]:
    """``{"trainable": …, "total": …, "macs": …}`` for a model."""
    return {**count_params(model), "macs": count_macs(model)}
