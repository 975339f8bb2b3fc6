"""The teacher: a 1-D SE-ResNet18 (DESIGN §2), built from ``Conv2D`` (1×k) layers."""
from __future__ import annotations

import tf_keras as keras

from lrh_tflm.config import TeacherConfig
from lrh_tflm.models.blocks import (
    batch_norm,
    conv,
    count_check,
    head,
    inputs,
    scaled,
    squeeze_excite,
)

layers = keras.layers

#: Channels of the four stages at width 1.
STAGE_CHANNELS = (64, 128, 256, 512)


def _basic_block(x, channels: int, stride: int, cfg: TeacherConfig, name: str):
    """Conv → BN → ReLU → Dropout → Conv → BN → SE → + shortcut → ReLU."""
    shortcut = x
    y = conv(x, channels, cfg.kernel, stride=stride, use_bias=False, name=f"{name}_conv1")
    y = batch_norm(y, f"{name}_bn1")
    y = layers.ReLU(name=f"{name}_relu1")(y)
    if cfg.dropout > 0:
        y = layers.Dropout(cfg.dropout, name=f"{name}_drop")(y)
    y = conv(y, channels, cfg.kernel, use_bias=False, name=f"{name}_conv2")
    y = batch_norm(y, f"{name}_bn2")
    y = squeeze_excite(y, cfg.se_ratio, name=f"{name}_se")
    if stride != 1 or int(x.shape[-1]) != channels:
        shortcut = conv(x, channels, 1, stride=stride, use_bias=False, name=f"{name}_down")
        shortcut = batch_norm(shortcut, f"{name}_down_bn")
    y = layers.Add(name=f"{name}_add")([y, shortcut])
    return layers.ReLU(name=f"{name}_out")(y)


def build_teacher(cfg: TeacherConfig, n_leads: int, window: int, n_classes: int,
                  name: str = "teacher") -> keras.Model:
    """Build the SE-ResNet18 teacher.

    stem Conv(k=15, stride 2, 64, no bias) → BN → ReLU → MaxPool(3, 2); four stages of
    basic blocks (64/128/256/512 × ``cfg.width``, stride 2 at the start of stages 2–4);
    global average → concat Dense(5→10)(demographics) → Dense(n_classes) logits.
    At width 1 with 2 leads and 24 classes it has 8,827,460 trainable parameters
    (8,831,300 with 6 leads), as in the paper's code.

    Parameters
    ----------
    cfg
        Architecture settings (width multiplier, blocks per stage, kernels, dropout, SE ratio).
    n_leads
        Input leads.
    window
        Samples per lead (any length ≥ 1).
    n_classes
        Number of output logits.
    name
        Keras model name.

    Returns
    -------
    keras.Model
        Inputs ``ecg`` (None, 1, window, n_leads) and ``demo`` (None, 5); output raw logits
        (None, n_classes).
    """
    count_check(n_classes)
    if len(cfg.blocks) != len(STAGE_CHANNELS) or min(cfg.blocks) < 1:
        raise ValueError(f"teacher blocks must be {len(STAGE_CHANNELS)} positive counts, "
                         f"got {cfg.blocks}")
    ecg, demo = inputs(window, n_leads)
    x = conv(ecg, scaled(STAGE_CHANNELS[0], cfg.width), cfg.stem_kernel, stride=2,
             use_bias=False, name="stem_conv")
    x = batch_norm(x, "stem_bn")
    x = layers.ReLU(name="stem_relu")(x)
    x = layers.MaxPooling2D((1, 3), strides=(1, 2), padding="same", name="stem_pool")(x)
    for stage, (channels, blocks) in enumerate(zip(STAGE_CHANNELS, cfg.blocks), start=1):
        for block in range(blocks):
            stride = 2 if stage > 1 and block == 0 else 1
            x = _basic_block(x, scaled(channels, cfg.width), stride, cfg,
                             name=f"s{stage}b{block + 1}")
    x = layers.GlobalAveragePooling2D(name="gap")(x)
    logits = head(x, demo, n_classes, demographics=cfg.demographics)
    return keras.Model(inputs=[ecg, demo], outputs=logits, name=name)
