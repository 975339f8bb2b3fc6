"""The students: the paper-exact LRH-Net, its MCU-friendly variant LRH-Net-MCU and
LRH-Net-Micro, designed for CMSIS-NN's fast paths.

Both share the channel and receptive-field plan of DESIGN §2 (stem Conv(k=8, 16) and three
residual blocks of 16/32/64 channels, blocks 2 and 3 downsampling by 2, SE(r=8), head
Dense(128)); they differ in the order of convolution, normalisation and activation, and
the MCU variant's head is Dense(64) unless ``StudentConfig.dense`` says otherwise (its int8
flatbuffer then fits 100 KB of flash):

* ``lrh-net`` (paper): Conv(bias) → ReLU → BN; the block ends with ReLU → BN.  A BN after a
  ReLU cannot be folded into the convolution and becomes MUL/ADD in int8.
* ``lrh-net-mcu``: Conv(no bias) → BN → ReLU everywhere, the pattern tfmot and the TFLite
  converter fold into a single int8 CONV_2D with fused ReLU.

In both, the SE and head Dense layers are 1×1 convolutions on ``(1, 1, c)`` tensors — the
same weights, parameters and MACs as Dense.  They convert to CONV_2D instead of
FULLY_CONNECTED: LiteRT's reference FULLY_CONNECTED requantises in float while TFLM's
rounds in fixed point (tensorflow/tensorflow#66358, google-ai-edge/LiteRT#8567), which
broke bit-exactness by up to 3 LSB; CONV_2D is bit-exact on both runtimes.  The paper
variant's BN after ReLU becomes MUL/ADD by per-channel constants; those MULs can still round
one step apart on rare values (the runtimes derive their multiplier at different precision),
while the MCU variant's only MUL (the SE gate, scale 1/256) has matched on every window
measured.

``lrh-net-micro`` keeps the MCU variant's conv → BN → ReLU order and adds the levers of
:attr:`lrh_tflm.config.StudentConfig.design`: a strided (or pooled) stem, so no block runs at
the input rate; depthwise-separable residual convolutions (DEPTHWISE_CONV_2D 1×k, then a 1×1
CONV_2D, each folding its BN); squeeze-and-excitation only in the blocks listed; channel
counts rounded to multiples of 4 (CMSIS-NN's int8 kernels process 4 channels per step).  Its
defaults are the design sweep's choice (``benchmarks/bench_student_design.py``).
"""
from __future__ import annotations

import tf_keras as keras

from lrh_tflm.config import STUDENT_VARIANTS, StudentConfig
from lrh_tflm.models.blocks import (
    batch_norm,
    conv,
    count_check,
    head,
    inputs,
    scaled,
    squeeze_excite,
    time_average,
)

layers = keras.layers

#: Channels of the stem and the three residual blocks at width 1, and each block's stride.
BLOCK_CHANNELS = (16, 32, 64)
BLOCK_STRIDES = (1, 2, 2)
VARIANTS = STUDENT_VARIANTS
#: The variants whose design is fixed (the paper's plan); only micro takes other levers.
FIXED_DESIGN = ("lrh-net", "lrh-net-mcu")


def _conv_unit(x, filters: int, kernel: int, stride: int, *, mcu: bool, relu: bool,
               name: str):
    """Paper: Conv(bias) → [ReLU → BN]; MCU: Conv(no bias) → BN → [ReLU]."""
    if mcu:
        x = conv(x, filters, kernel, stride=stride, use_bias=False, name=f"{name}_conv")
        x = batch_norm(x, f"{name}_bn")
        return layers.ReLU(name=f"{name}_relu")(x) if relu else x
    x = conv(x, filters, kernel, stride=stride, use_bias=True, name=f"{name}_conv")
    if relu:
        x = layers.ReLU(name=f"{name}_relu")(x)
        x = batch_norm(x, f"{name}_bn")
    return x


def _separable_unit(x, filters: int, kernel: int, stride: int, *, relu: bool, name: str):
    """Depthwise Conv(1×k, stride) → BN → ReLU → pointwise Conv(1×1) → BN → [ReLU]."""
    # TF's CPU depthwise kernel takes only equal strides; on the height-1 tensor a stride in
    # height changes nothing ('same' padding keeps one row).
    x = layers.DepthwiseConv2D((1, kernel), strides=(stride, stride), padding="same",
                               use_bias=False, name=f"{name}_dw")(x)
    x = batch_norm(x, f"{name}_dw_bn")
    x = layers.ReLU(name=f"{name}_dw_relu")(x)
    x = conv(x, filters, 1, use_bias=False, name=f"{name}_pw")
    x = batch_norm(x, f"{name}_pw_bn")
    return layers.ReLU(name=f"{name}_relu")(x) if relu else x


def _residual_block(x, channels: int, stride: int, cfg: StudentConfig, design: dict, *,
                    mcu: bool, se: bool, name: str):
    """One LRH-Net residual block in the order of the chosen variant (``design``:
    :func:`check_design`)."""
    kernel = design["kernel"]
    if design["separable"]:
        y = _separable_unit(x, channels, kernel, stride, relu=True, name=f"{name}_c1")
        y = _separable_unit(y, channels, kernel, 1, relu=False, name=f"{name}_c2")
    else:
        y = _conv_unit(x, channels, kernel, stride, mcu=mcu, relu=True, name=f"{name}_c1")
        y = _conv_unit(y, channels, kernel, 1, mcu=mcu, relu=False, name=f"{name}_c2")
    if se:
        y = squeeze_excite(y, cfg.se_ratio, name=f"{name}_se", pointwise=True, pool=design["pool"])
    shortcut = x
    if stride != 1 or int(x.shape[-1]) != channels:
        shortcut = conv(x, channels, 1, stride=stride, use_bias=not mcu, name=f"{name}_down")
        if mcu:
            shortcut = batch_norm(shortcut, f"{name}_down_bn")
    y = layers.Add(name=f"{name}_add")([y, shortcut])
    y = layers.ReLU(name=f"{name}_out")(y)
    if not mcu:
        y = batch_norm(y, f"{name}_out_bn")
    return y


def scaled4(channels: int, width: float) -> int:
    """``channels × width`` rounded to a multiple of 4, at least 4 (CMSIS-NN's SIMD step)."""
    return max(4, 4 * int(round(channels * width / 4)))


def check_design(cfg: StudentConfig) -> dict:
    """``cfg.design``, refusing unknown variants, out-of-range levers, and levers the paper's
    fixed-design variants do not have."""
    if cfg.variant not in VARIANTS:
        raise ValueError(f"unknown student variant {cfg.variant!r}; choose one of "
                         f"{', '.join(VARIANTS)}")
    design = cfg.design
    if cfg.variant in FIXED_DESIGN:
        fixed = StudentConfig(variant=cfg.variant).design
        changed = sorted(k for k in design if k != "dense" and design[k] != fixed[k])
        if changed:
            raise ValueError(f"{cfg.variant} has the paper's fixed design; "
                             f"{', '.join(changed)} can be set only for lrh-net-micro")
    problems = [f"{k} must be at least 1, got {design[k]}" for k in ("kernel", "stem_stride",
                                                                     "stem_pool")
                if int(design[k]) < 1]
    bad = [b for b in design["se_blocks"] if b not in (1, 2, 3)]
    if bad:
        problems.append(f"se_blocks lists blocks {bad}; the student has blocks 1, 2 and 3")
    if problems:
        raise ValueError(f"student design: {'; '.join(problems)}")
    return design


def build_student(cfg: StudentConfig, n_leads: int, window: int, n_classes: int,
                  name: str = "student") -> keras.Model:
    """Build LRH-Net (``cfg.variant == "lrh-net"``), LRH-Net-MCU (``"lrh-net-mcu"``) or
    LRH-Net-Micro (``"lrh-net-micro"``, its design from ``cfg.design``).

    The paper variant at width 1 with 2 leads and 24 classes has 83,236 trainable
    parameters (83,748 with 6 leads).  The MCU variant drops the convolution biases (BN
    follows every convolution), gains BN after the stem and on the shortcuts and has a
    Dense(64) head (76,788 trainable at 2 leads and 24 classes; 83,124 with Dense(128)).

    Parameters
    ----------
    cfg
        Student settings (variant, width multiplier, kernel, SE ratio, head width).
    n_leads
        Input leads.
    window
        Samples per lead.
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
    design = check_design(cfg)
    count_check(n_classes)
    mcu = cfg.variant != "lrh-net"
    width = scaled4 if cfg.variant == "lrh-net-micro" else scaled
    ecg, demo = inputs(window, n_leads)
    x = conv(ecg, width(BLOCK_CHANNELS[0], cfg.width), design["kernel"],
             stride=design["stem_stride"], use_bias=not mcu, name="stem_conv")
    if mcu:
        x = batch_norm(x, "stem_bn")
    x = layers.ReLU(name="stem_relu")(x)
    if design["stem_pool"] > 1:
        x = layers.MaxPooling2D((1, design["stem_pool"]), padding="same", name="stem_pool")(x)
    for i, (channels, stride) in enumerate(zip(BLOCK_CHANNELS, BLOCK_STRIDES), start=1):
        x = _residual_block(x, width(channels, cfg.width), stride, cfg, design, mcu=mcu,
                            se=i in design["se_blocks"], name=f"b{i}")
    # Keep the (1, 1, c) shape so the head runs as 1×1 convolutions (no FULLY_CONNECTED).
    x = time_average(x, "gap", design["pool"])
    logits = head(x, demo, n_classes, demographics=cfg.demographics, hidden=cfg.head_width,
                  pointwise=True)
    return keras.Model(inputs=[ecg, demo], outputs=logits, name=name)
