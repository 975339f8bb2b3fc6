"""Building blocks shared by the teacher and the students.

Every 1-D operation is expressed on a ``(batch, 1, T, channels)`` tensor with 2-D Keras
layers of kernel ``(1, k)``: tfmot has no QAT support for ``Conv1D`` (DESIGN §4), and the
2-D form converts to plain TFLite ``CONV_2D``.  Only built-in ``tf_keras`` layers are used,
so saving, loading and QAT need no custom objects.
"""
from __future__ import annotations

import lrh_tflm  # noqa: F401  (sets TF_USE_LEGACY_KERAS before TensorFlow is imported)
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


def squeeze_excite(x, ratio: int, name: str):
    """Squeeze-and-excitation: channel gates from the time-averaged activations.

    global average → Dense(c/r, no bias) → ReLU → Dense(c, no bias) → sigmoid →
    Reshape(1, 1, c) → scale.  The Dense layers act on 2-D tensors: a Dense on a 4-D tensor
    converts to SHAPE/GATHER/REDUCE_PROD ops that TFLM lacks (DESIGN §4); with a static batch
    of 1 the Reshape becomes a plain RESHAPE and the scale a broadcasting MUL.

    Parameters
    ----------
    x
        Tensor ``(batch, 1, T, c)``.
    ratio
        Reduction ratio r; the bottleneck has ``max(1, c // r)`` units.
    name
        Prefix of the layer names.
    """
    channels = int(x.shape[-1])
    hidden = max(1, channels // ratio)
    s = layers.GlobalAveragePooling2D(name=f"{name}_pool")(x)
    s = layers.Dense(hidden, use_bias=False, activation="relu", name=f"{name}_squeeze")(s)
    s = layers.Dense(channels, use_bias=False, activation="sigmoid", name=f"{name}_excite")(s)
    s = layers.Reshape((1, 1, channels), name=f"{name}_gate")(s)
    return layers.Multiply(name=f"{name}_scale")([x, s])


def head(features, demo, n_classes: int, *, demographics: bool, hidden: int = 0,
         name: str = "head"):
    """Classifier head: concat(features, Dense(5→10)(demo)) → [Dense(hidden) → ReLU] → logits.

    The output layer is named ``"logits"`` and has no activation (raw logits, the contract).
    With ``demographics=False`` the demographic input stays in the signature but is not used.
    """
    if demographics:
        d = layers.Dense(DEMO_EMBED, name=f"{name}_demo")(demo)
        features = layers.Concatenate(name=f"{name}_concat")([features, d])
    if hidden:
        features = layers.Dense(hidden, activation="relu", name=f"{name}_hidden")(features)
    return layers.Dense(n_classes, name="logits")(features)


def count_check(n_classes: int) -> None:
    """Reject a class count the head cannot have."""
    if n_classes < 1:
        raise ValueError(f"n_classes must be positive, got {n_classes}")
