"""Building blocks shared by the teacher and the students.

Every 1-D operation is expressed on a ``(batch, 1, T, channels)`` tensor with 2-D Keras
layers of kernel ``(1, k)``: tfmot has no QAT support for ``Conv1D`` (DESIGN §4), and the
2-D form converts to plain TFLite ``CONV_2D``.  Only built-in ``tf_keras`` layers are used,
so saving, loading and QAT need no custom objects.
"""
from __future__ import annotations

import tf_keras as keras

#: Length of the demographic vector (age, age-missing, sex-female, sex-male, sex-missing).
DEMO_FEATURES = 5
#: Width of the demographic embedding concatenated before the classifier (paper: Dense(5→10)).
DEMO_EMBED = 10

layers = keras.layers


def scaled(channels: int, width: float) -> int:
    """Channel count ``channels × width``, rounded, at least 1."""
    return max(1, int(round(channels * width)))


def inputs(window: int, n_leads: int) -> tuple[keras.KerasTensor, keras.KerasTensor]:
    """The two model inputs of the package contract.

    Parameters
    ----------
    window
        Samples per lead.
    n_leads
        Number of input leads.

    Returns
    -------
    ecg, demo
        ``ecg`` of shape ``(None, 1, window, n_leads)`` and ``demo`` of shape ``(None, 5)``.
    """
    if window < 1 or n_leads < 1:
        raise ValueError(f"window ({window}) and n_leads ({n_leads}) must be positive")
    ecg = keras.Input(shape=(1, window, n_leads), name="ecg")
    demo = keras.Input(shape=(DEMO_FEATURES,), name="demo")
    return ecg, demo


def conv(x, filters: int, kernel: int, *, stride: int = 1, use_bias: bool, name: str):
    """A 1-D convolution along time as ``Conv2D`` with kernel ``(1, kernel)``, 'same' padding."""
    return layers.Conv2D(filters, (1, kernel), strides=(1, stride), padding="same",
                         use_bias=use_bias, name=name)(x)


def batch_norm(x, name: str):
    """Batch normalisation over the channel axis (PyTorch's BatchNorm1d defaults)."""
    # PyTorch uses momentum 0.1 (= Keras 0.9) and eps 1e-5; matching them keeps the paper's
    # training dynamics and the parameter counts (2 trainable weights per channel).
    return layers.BatchNormalization(momentum=0.9, epsilon=1e-5, name=name)(x)


def time_average(x, name: str, pool: str = "mean"):
    """The ``(batch, 1, 1, c)`` average over time of ``(batch, 1, T, c)``.

    ``pool="mean"``: ``GlobalAveragePooling2D`` (TFLite MEAN); ``"avgpool"``: an
    ``AveragePooling2D`` over the whole window (AVERAGE_POOL_2D, which CMSIS-NN runs with its
    SIMD pooling kernel, where TFLM's MEAN is a generic reduction).
    """
    if pool == "avgpool":
        return layers.AveragePooling2D((1, int(x.shape[2])), name=name)(x)
    if pool != "mean":
        raise ValueError(f"unknown pooling {pool!r}; choose mean or avgpool")
    return layers.GlobalAveragePooling2D(keepdims=True, name=name)(x)


def squeeze_excite(x, ratio: int, name: str, *, pointwise: bool = False, pool: str = "mean"):
    """Squeeze-and-excitation: channel gates from the time-averaged activations.

    global average → Dense(c/r, no bias) → ReLU → Dense(c, no bias) → sigmoid →
    Reshape(1, 1, c) → scale.  The Dense layers act on 2-D tensors: a Dense on a 4-D tensor
    converts to SHAPE/GATHER/REDUCE_PROD ops that TFLM lacks (DESIGN §4); with a static batch
    of 1 the Reshape becomes a plain RESHAPE and the scale a broadcasting MUL.

    With ``pointwise=True`` the two Dense layers are 1×1 ``Conv2D`` on the ``(1, 1, c)``
    average instead (same weights, same MACs).  They convert to CONV_2D rather than
    FULLY_CONNECTED, whose int8 reference kernel in LiteRT rounds differently from TFLM's
    (tensorflow/tensorflow#66358), so the converted model is bit-exact across runtimes.

    Parameters
    ----------
    x
        Tensor ``(batch, 1, T, c)``.
    ratio
        Reduction ratio r; the bottleneck has ``max(1, c // r)`` units.
    name
        Prefix of the layer names.
    pointwise
        Use 1×1 convolutions instead of Dense layers (the students; the float-only teacher
        keeps Dense).
    pool
        How the pointwise form averages over time (:func:`time_average`).
    """
    channels = int(x.shape[-1])
    hidden = max(1, channels // ratio)
    if pointwise:
        s = time_average(x, f"{name}_pool", pool)
        s = layers.Conv2D(hidden, 1, use_bias=False, activation="relu",
                          name=f"{name}_squeeze")(s)
        s = layers.Conv2D(channels, 1, use_bias=False, activation="sigmoid",
                          name=f"{name}_excite")(s)
        return layers.Multiply(name=f"{name}_scale")([x, s])
    s = layers.GlobalAveragePooling2D(name=f"{name}_pool")(x)
    s = layers.Dense(hidden, use_bias=False, activation="relu", name=f"{name}_squeeze")(s)
    s = layers.Dense(channels, use_bias=False, activation="sigmoid", name=f"{name}_excite")(s)
    s = layers.Reshape((1, 1, channels), name=f"{name}_gate")(s)
    return layers.Multiply(name=f"{name}_scale")([x, s])


def head(features, demo, n_classes: int, *, demographics: bool, hidden: int = 0,
         pointwise: bool = False, name: str = "head"):
    """Classifier head: concat(features, Dense(5→10)(demo)) → [Dense(hidden) → ReLU] → logits.

    The output layer is named ``"logits"`` and carries no activation (raw logits, the
    contract).  With ``demographics=False`` the demographic input stays in the signature but
    is not used.

    With ``pointwise=True`` ``features`` must be ``(batch, 1, 1, c)`` (a pooling with
    ``keepdims``); the demographics are reshaped to ``(batch, 1, 1, 5)``, every Dense becomes a
    1×1 ``Conv2D`` (same weights and MACs; CONV_2D instead of FULLY_CONNECTED in TFLite, see
    :func:`squeeze_excite`) and the final ``Reshape`` named ``"logits"`` flattens the
    ``(1, 1, n_classes)`` scores of the ``"logits_conv"`` layer.
    """
    if pointwise:
        def dense(units, activation, layer_name):
            return layers.Conv2D(units, 1, activation=activation, name=layer_name)
        if demographics:
            demo = layers.Reshape((1, 1, int(demo.shape[-1])), name=f"{name}_demo_reshape")(demo)
    else:
        def dense(units, activation, layer_name):
            return layers.Dense(units, activation=activation, name=layer_name)
    if demographics:
        d = dense(DEMO_EMBED, None, f"{name}_demo")(demo)
        features = layers.Concatenate(name=f"{name}_concat")([features, d])
    if hidden:
        features = dense(hidden, "relu", f"{name}_hidden")(features)
    if not pointwise:
        return dense(n_classes, None, "logits")(features)
    scores = dense(n_classes, None, "logits_conv")(features)
    return layers.Reshape((n_classes,), name="logits")(scores)


def count_check(n_classes: int) -> None:
    """Reject a class count the head cannot have."""
    if n_classes < 1:
        raise ValueError(f"n_classes must be positive, got {n_classes}")
