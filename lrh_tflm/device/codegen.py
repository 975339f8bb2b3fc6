"""Firmware code generation: the model C array, the settings header, the op resolver and the footprint.

Everything the firmware needs is generated here from the trained artefacts — the int8
``.tflite`` (tensor scales, op list, measured arena) and its sidecar (fs, window, leads,
classes, thresholds, preprocessing) — never copied by hand.  The files and their contents are
the firmware contract (see ``firmware/lrh_ecg/src``):

``model_data.h`` / ``model_data.cc``
    The flatbuffer as an ``alignas(16)`` C array with its SHA-256.
``model_settings.h``
    constexpr settings: rates, window, hop, leads, classes, thresholds, decision smoothing
    (k of n), quantisation, SOS band-pass, normalisation, arena.
``model_ops.h``
    ``RegisterModelOps(resolver)`` adding exactly the builtin ops the model uses.
``footprint.json``
    Parameters, MACs per window, flatbuffer bytes, measured arena and a Cortex-M4F time estimate.
"""
from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Sequence

import numpy as np

from lrh_tflm import __version__
from lrh_tflm.artifact import Sidecar
from lrh_tflm.data.preprocess import DEMOGRAPHICS_DEFAULT, bandpass_sos
from lrh_tflm.io import sha256_bytes, write_json_atomic, write_text_atomic
from lrh_tflm.tflite.runtime import ARENA_ALIGNMENT, measure_arena
from lrh_tflm.tflite.schema import find_inputs, io_details, operators, tflite_ops

#: TFLite builtin op → ``tflite::MicroMutableOpResolver`` method.
OP_RESOLVER_METHODS: dict[str, str] = {
    "CONV_2D": "AddConv2D",
    "DEPTHWISE_CONV_2D": "AddDepthwiseConv2D",
    "FULLY_CONNECTED": "AddFullyConnected",
    "ADD": "AddAdd",
    "MUL": "AddMul",
    "MEAN": "AddMean",
    "AVERAGE_POOL_2D": "AddAveragePool2D",
    "MAX_POOL_2D": "AddMaxPool2D",
    "LOGISTIC": "AddLogistic",
    "RELU": "AddRelu",
    "RELU6": "AddRelu6",
    "RESHAPE": "AddReshape",
    "CONCATENATION": "AddConcatenation",
    "QUANTIZE": "AddQuantize",
    "DEQUANTIZE": "AddDequantize",
    "PAD": "AddPad",
    "SOFTMAX": "AddSoftmax",
    "STRIDED_SLICE": "AddStridedSlice",
    "SUM": "AddSum",
    "SUB": "AddSub",
    "TANH": "AddTanh",
}

#: Files :func:`export_firmware` writes into the firmware folder.
FIRMWARE_FILES = ("model_data.h", "model_data.cc", "model_settings.h", "model_ops.h",
                  "footprint.json")

#: Cortex-M4F clock of the Nano 33 BLE (nRF52840).
MCU_CLOCK_HZ = 64_000_000
#: Cycles per int8 MAC assumed for the time estimate (see :func:`footprint`).
CYCLES_PER_MAC = {
    "cmsis_nn_best": 0.5,
    "cmsis_nn_typical": 1.0,
    "reference_kernels": 6.0,
}
_CYCLE_ASSUMPTIONS = {
    "cmsis_nn_best": "CMSIS-NN int8 kernels at their peak: SMLAD does two 16-bit MACs per "
                     "cycle on the Cortex-M4 DSP extension, ignoring loads, im2col and "
                     "requantisation (lower bound on time).",
    "cmsis_nn_typical": "CMSIS-NN with loads, im2col and requantisation overheads, about one "
                        "cycle per MAC (what published Cortex-M4 benchmarks of small CNNs "
                        "roughly show; an assumption, not measured here).",
    "reference_kernels": "TFLM's portable reference kernels (no CMSIS-NN): scalar loop with "
                         "per-element offset and index arithmetic, assumed ~6 cycles per MAC "
                         "(an assumption, not measured here).",
}


class ExportError(ValueError):
    """The model or sidecar cannot be exported (unknown op, mismatched shapes …)."""


# ----------------------------------------------------------------------------- model walk


def model_ops(tflite_bytes: bytes) -> list[str]:
    """Distinct builtin ops of the model, sorted (:func:`lrh_tflm.tflite.schema.tflite_ops`)."""
    return list(tflite_ops(bytes(tflite_bytes)))


def count_macs_tflite(tflite_bytes: bytes) -> int:
    """Multiply-accumulates per inference, from the ``.tflite``'s tensor shapes (works for any model).

    Same convention as :func:`lrh_tflm.models.footprint.count_macs`: CONV_2D =
    out_h·out_w·c_out·k_h·k_w·c_in (weights ``[c_out, k_h, k_w, c_in]``), DEPTHWISE_CONV_2D =
    out_h·out_w·c_out·k_h·k_w (weights ``[1, k_h, k_w, c_out]``), FULLY_CONNECTED =
    rows·units·in (weights ``[units, in]``); element-wise ops, pooling and means count 0.
    """
    total = 0
    for name, ins, outs in operators(tflite_bytes):
        if name not in ("CONV_2D", "DEPTHWISE_CONV_2D", "FULLY_CONNECTED"):
            continue
        out, w = outs[0], ins[1]
        if name == "CONV_2D":
            total += math.prod(out) * w[1] * w[2] * w[3]
        elif name == "DEPTHWISE_CONV_2D":
            total += math.prod(out) * w[1] * w[2]
        else:
            total += math.prod(out) * w[1]
    return int(total)


# ----------------------------------------------------------------------------- C text


def _banner(source_name: str, sha: str, trained_on: str | None = None) -> str:
    line = (f"// Generated by lrh-tflm export {__version__} from {source_name} "
            f"(sha256 {sha}); do not edit.\n")
    # The training data travels with the model: its licence may require attribution.
    return line + (f"// Trained on {trained_on}.\n" if trained_on else "")


def _c_float(x: float) -> str:
    x = float(x)
    if not math.isfinite(x):
        raise ExportError(f"cannot write non-finite value {x} into the settings header")
    text = f"{x:.9g}"
    if not re.search(r"[.eE]", text):
        text += ".0"
    return text + "f"


def _c_string(s: str) -> str:
    return '"' + str(s).replace("\\", "\\\\").replace('"', '\\"') + '"'


def c_array_files(tflite_bytes: bytes, source_name: str, trained_on: str | None = None
                  ) -> dict[str, str]:
    """The text of ``model_data.h`` and ``model_data.cc`` for a flatbuffer.

    Returns
    -------
    dict
        ``{"model_data.h": text, "model_data.cc": text}``; 12 bytes per line, ``alignas(16)``
        (TFLM reads the flatbuffer in place and needs it aligned).
    """
    data = bytes(tflite_bytes)
    sha = sha256_bytes(data)
    banner = _banner(source_name, sha, trained_on)
    header = (banner + "#pragma once\n#include <cstddef>\n\nnamespace lrh {\n"
              "extern const unsigned char kModelData[];\n"
              "extern const unsigned int kModelDataLen;\n"
              f'constexpr const char kModelSha256[] = "{sha}";\n'
              "}  // namespace lrh\n")
    lines = []
    for i in range(0, len(data), 12):
        lines.append("  " + ", ".join(f"0x{b:02x}" for b in data[i:i + 12]) + ",")
    body = (banner + '#include "model_data.h"\n\nnamespace lrh {\n'
            "alignas(16) const unsigned char kModelData[] = {\n"
            + "\n".join(lines) + "\n};\n"
            f"const unsigned int kModelDataLen = {len(data)};\n"
            "}  // namespace lrh\n")
    return {"model_data.h": header, "model_data.cc": body}


def parse_c_array(text: str) -> bytes:
    """Bytes of the ``kModelData`` array in a generated ``model_data.cc`` (round-trip check).

    Raises
    ------
    ExportError
        If no array is found, or its length disagrees with ``kModelDataLen``.
    """
    m = re.search(r"kModelData\[\]\s*=\s*\{(.*?)\};", text, re.S)
    if m is None:
        raise ExportError("no kModelData array found")
    data = bytes(int(tok, 16) for tok in re.findall(r"0x([0-9a-fA-F]{2})", m.group(1)))
    n = re.search(r"kModelDataLen\s*=\s*(\d+)", text)
    if n is not None and int(n.group(1)) != len(data):
        raise ExportError(f"array holds {len(data)} bytes but kModelDataLen = {n.group(1)}")
    return data


def ops_header(ops: Sequence[str], source_name: str, sha: str, trained_on: str | None = None
               ) -> str:
    """``model_ops.h``: ``kNumModelOps`` and ``RegisterModelOps(resolver)`` for exactly ``ops``.

    Raises
    ------
    ExportError
        For an op this project has no resolver mapping for (custom ops, ops TFLM lacks …).
    """
    unknown = [op for op in ops if op not in OP_RESOLVER_METHODS]
    if unknown:
        raise ExportError(
            f"the model uses op(s) {', '.join(unknown)} that the firmware's op resolver does not "
            f"register; supported: {', '.join(sorted(OP_RESOLVER_METHODS))}")
    # kTfLiteOk is 0; comparing the status as an int keeps the header free of TFLM includes
    # and valid whatever is included before it (a non-dependent name would need a declaration).
    calls = "\n".join(f"  if (static_cast<int>(r.{OP_RESOLVER_METHODS[op]}()) != 0) ++failures;"
                      for op in ops)
    return (_banner(source_name, sha, trained_on) + "#pragma once\n\n"
            f"// Builtin ops of the model ({len(ops)}): {', '.join(ops)}\n"
            "// Includes nothing from TFLM: instantiate with\n"
            "// tflite::MicroMutableOpResolver<lrh::kNumModelOps> after including TFLM.\n\n"
            "namespace lrh {\n"
            f"constexpr int kNumModelOps = {len(ops)};\n\n"
            "// Adds every op the model needs; returns how many registrations failed\n"
            "// (a status other than kTfLiteOk == 0).\n"
            "template <typename Resolver>\n"
            "inline int RegisterModelOps(Resolver& r) {\n"
            "  int failures = 0;\n"
            f"{calls}\n"
            "  return failures;\n"
            "}\n"
            "}  // namespace lrh\n")


def arena_with_margin(measured: int, margin: float, margin_bytes: int) -> int:
    """``measured · (1 + margin) + margin_bytes`` rounded up to :data:`ARENA_ALIGNMENT`."""
    raw = math.ceil(measured * (1.0 + margin)) + int(margin_bytes)
    return -(-raw // ARENA_ALIGNMENT) * ARENA_ALIGNMENT


def settings_header(tflite_bytes: bytes, sidecar: dict, *, hop: int, arena_measured: int,
                    arena_bytes: int, n_ops: int, source_name: str,
                    trained_on: str | None = None) -> str:
    """``model_settings.h`` from the model's tensors and the sidecar (see the firmware contract).

    Raises
    ------
    ExportError
        If the sidecar disagrees with the model (window, leads, classes) or is incomplete.
    """
    meta = Sidecar.from_dict(sidecar)
    cfg, codes, abbr, thresholds = meta.preprocessing, meta.codes, meta.abbreviations, meta.thresholds
    smooth_k, smooth_n = meta.smoothing
    inputs, outputs = io_details(tflite_bytes)
    ecg, demo = find_inputs(inputs)
    out = outputs[0]
    leads = list(sidecar.get("leads", cfg.leads))
    if len(ecg.shape) != 4 or ecg.shape[:2] != (1, 1):
        raise ExportError(f"ecg input must be [1, 1, window, leads], got {list(ecg.shape)}")
    if ecg.shape[2] != cfg.window or ecg.shape[3] != len(leads):
        raise ExportError(f"model input is {ecg.shape[2]} samples × {ecg.shape[3]} leads but the "
                          f"sidecar says {cfg.window} × {len(leads)} ({', '.join(leads)})")
    if int(np.prod(out.shape)) != len(codes):
        raise ExportError(f"model has {int(np.prod(out.shape))} outputs but the sidecar "
                          f"{len(codes)} classes")
    if not ecg.quantized or not out.quantized:
        raise ExportError("the model is not full-int8 (float input or output); TFLM on the MCU "
                          "needs an int8 model")
    if hop <= 0:
        raise ExportError(f"hop must be positive, got {hop}")
    modes = {"none": "kNormaliseNone", "zscore": "kNormaliseZScore"}
    if cfg.normalise not in modes:
        raise ExportError(f"unknown normalisation {cfg.normalise!r}")
    sos = bandpass_sos(cfg)
    demo_default = np.asarray(DEMOGRAPHICS_DEFAULT, np.float64)

    def arr(values, fmt):
        return "{" + ", ".join(fmt(v) for v in values) + "}"

    sos_rows = ",\n    ".join(arr(row, _c_float) for row in sos)
    low, high = cfg.band_hz
    lines = [
        _banner(source_name, sha256_bytes(bytes(tflite_bytes)), trained_on).rstrip("\n"),
        "#pragma once",
        "#include <cstdint>",
        "",
        "namespace lrh {",
        f"constexpr float kSampleRateHz = {_c_float(cfg.fs)};  // model fs (ADC sampling rate)",
        f"constexpr int kWindowSamples = {cfg.window};  // samples per lead per window",
        f"constexpr int kHopSamples = {int(hop)};  // default hop between windows",
        f"constexpr int kNumLeads = {len(leads)};",
        f"constexpr const char* kLeadNames[kNumLeads] = {arr(leads, _c_string)};",
        f"constexpr int kNumClasses = {len(codes)};",
        f"constexpr const char* kClassCodes[kNumClasses] = {arr(codes, _c_string)};",
        f"constexpr const char* kClassAbbrev[kNumClasses] = {arr(abbr, _c_string)};",
        f"constexpr float kThresholds[kNumClasses] = {arr(thresholds, _c_float)};"
        "  // on sigmoid probability",
        f"constexpr int kSmoothK = {smooth_k};  // a class is reported when decided in kSmoothK",
        f"constexpr int kSmoothN = {smooth_n};  // of the last kSmoothN windows",
        "constexpr int kInputLayout = 0;  // ecg input [1][1][kWindowSamples][kNumLeads], "
        "index = t*kNumLeads + lead",
        f"constexpr float kInputScale = {_c_float(ecg.scale)};",
        f"constexpr int kInputZeroPoint = {ecg.zero_point};",
        f"constexpr bool kHasDemographics = {'true' if demo is not None else 'false'};",
        f"constexpr int kNumDemographics = {len(demo_default)};",
        f"constexpr float kDemoScale = {_c_float(demo.scale if demo else 0.0)};",
        f"constexpr int kDemoZeroPoint = {demo.zero_point if demo else 0};",
        f"constexpr float kDemographicsDefault[kNumDemographics] = "
        f"{arr(demo_default, _c_float)};  // unknown age and sex",
        f"constexpr float kOutputScale = {_c_float(out.scale)};",
        f"constexpr int kOutputZeroPoint = {out.zero_point};  // logits output tensor",
        f"constexpr int kNumSos = {len(sos)};",
        "// band-pass, Direct Form II transposed, zero initial state; rows {b0, b1, b2, 1, a1, a2}",
        f"constexpr float kSos[kNumSos][6] = {{\n    {sos_rows}}};",
        f"constexpr float kBandLowHz = {_c_float(low)}, kBandHighHz = {_c_float(high)};",
        "constexpr int kNormaliseNone = 0, kNormaliseZScore = 1;",
        f"constexpr int kNormaliseMode = {modes[cfg.normalise]};",
        f"constexpr float kZScoreEps = {_c_float(cfg.zscore_eps)};"
        "  // z = (x - mean) / (std + eps), population std over the window, per lead",
        f"constexpr int kArenaBytes = {int(arena_bytes)};  // measured TFLM arena + margin",
        f"constexpr int kArenaMeasuredBytes = {int(arena_measured)};",
        f"constexpr int kNumOps = {int(n_ops)};  // ops registered by model_ops.h",
        "}  // namespace lrh",
        "",
    ]
    return "\n".join(lines)


# ----------------------------------------------------------------------------- footprint


def footprint(tflite_bytes: bytes, arena_measured: int, *, params: int | None = None,
              macs_keras: int | None = None, clock_hz: int = MCU_CLOCK_HZ) -> dict:
    """Size and cost of one model on the MCU.

    MACs come from the Keras model when given (``macs_keras``), else from the ``.tflite`` walk
    (:func:`count_macs_tflite`, always reported as ``macs_tflite``).  The Cortex-M4F time per
    window is ``MACs × cycles/MAC / clock`` for each assumption in :data:`CYCLES_PER_MAC`
    (element-wise ops, pooling and the framework's per-op overhead are not included).

    Returns
    -------
    dict
        JSON-ready: ``params``, ``macs``, ``macs_source``, ``macs_tflite``, ``flatbuffer_bytes``,
        ``arena_measured_bytes``, ``mcu`` (clock), ``time_ms`` per assumption and
        ``assumptions`` (text).
    """
    macs_tflite = count_macs_tflite(tflite_bytes)
    macs = macs_keras if macs_keras is not None else macs_tflite
    time_ms = {k: 1000.0 * macs * c / clock_hz for k, c in CYCLES_PER_MAC.items()}
    return {
        "params": params,
        "macs": int(macs),
        "macs_source": "keras" if macs_keras is not None else "tflite",
        "macs_tflite": macs_tflite,
        "flatbuffer_bytes": len(tflite_bytes),
        "arena_measured_bytes": int(arena_measured),
        "mcu": {"core": "Cortex-M4F", "clock_hz": int(clock_hz)},
        "cycles_per_mac": dict(CYCLES_PER_MAC),
        "time_ms": time_ms,
        "assumptions": dict(_CYCLE_ASSUMPTIONS),
    }


def footprint_text(fp: dict) -> str:
    """A few human-readable lines for a footprint dict."""
    t = fp["time_ms"]
    params = "n/a" if fp["params"] is None else f"{fp['params']:,}"
    return (f"parameters {params}; {fp['macs']:,} MACs/window; int8 flatbuffer "
            f"{fp['flatbuffer_bytes']:,} B; TFLM arena {fp['arena_measured_bytes']:,} B\n"
            f"Cortex-M4F @ {fp['mcu']['clock_hz'] / 1e6:g} MHz: ≈{t['cmsis_nn_best']:.0f}–"
            f"{t['cmsis_nn_typical']:.0f} ms/window with CMSIS-NN (0.5–1 cycle/MAC), "
            f"≈{t['reference_kernels']:.0f} ms with reference kernels (~6 cycles/MAC); "
            "assumptions, not measurements")


# ----------------------------------------------------------------------------- export


@dataclass
class ExportResult:
    """What :func:`export_firmware` wrote.

    Attributes
    ----------
    out_dir
        The firmware folder.
    files
        File name → path of every file written.
    sha256
        SHA-256 of the exported ``.tflite``.
    ops
        Builtin ops registered by ``model_ops.h``.
    arena_measured, arena_bytes
        Measured TFLM arena and the size with margin written to ``kArenaBytes``.
    footprint
        The ``footprint.json`` content.
    """

    out_dir: Path
    files: dict[str, Path]
    sha256: str
    ops: list[str]
    arena_measured: int
    arena_bytes: int
    footprint: dict = field(default_factory=dict)


def export_firmware(tflite_int8: Path, sidecar: dict, out_dir: Path, *, hop: int,
                    arena_margin: float, arena_margin_bytes: int,
                    source_name: str | None = None, keras_model=None,
                    params: int | None = None) -> ExportResult:
    """Write the firmware files (:data:`FIRMWARE_FILES`) for an int8 model.

    Parameters
    ----------
    tflite_int8
        Path of the full-int8 ``.tflite``.
    sidecar
        The model's sidecar dict (leads, fs, window, classes, thresholds, preprocessing).
    out_dir
        Firmware folder (e.g. ``firmware/lrh_ecg/src``); created if missing.
    hop
        Default hop between windows (samples at the model rate) → ``kHopSamples``.
    arena_margin, arena_margin_bytes
        ``kArenaBytes = measured · (1 + arena_margin) + arena_margin_bytes`` (16-byte aligned).
    source_name
        Name written in the banners (default: the file name of ``tflite_int8``).
    keras_model
        Optional Keras model: parameters and MACs are counted on it.
    params
        Trainable parameters when no Keras model is given (else ``sidecar["params"]`` if present).

    Returns
    -------
    ExportResult

    Raises
    ------
    ExportError
        Ops without a resolver mapping, sidecar/model mismatches, a model TFLM cannot run.
    """
    tflite_int8 = Path(tflite_int8)
    data = tflite_int8.read_bytes()
    source_name = source_name or tflite_int8.name
    sha = sha256_bytes(data)
    ops = model_ops(data)
    trained_on = (sidecar.get("data") or {}).get("attribution")
    ops_text = ops_header(ops, source_name, sha, trained_on)  # raises for unknown ops first
    measured = measure_arena(data)
    arena = arena_with_margin(measured, arena_margin, arena_margin_bytes)
    settings = settings_header(data, sidecar, hop=hop, arena_measured=measured,
                               arena_bytes=arena, n_ops=len(ops), source_name=source_name,
                               trained_on=trained_on)
    macs_keras = None
    if keras_model is not None:
        # Lazy: lrh_tflm.models imports TensorFlow, which the C generators do not need.
        from lrh_tflm.models.footprint import count_macs, count_params

        macs_keras = count_macs(keras_model)
        params = count_params(keras_model)["trainable"]
    elif params is None:
        params = sidecar.get("params")
        if isinstance(params, dict):
            params = params.get("trainable")
    fp = footprint(data, measured, params=params, macs_keras=macs_keras)
    fp.update({"source": source_name, "trained_on": trained_on, "sha256": sha, "ops": ops, "arena_bytes": arena,
               "arena_margin": arena_margin, "arena_margin_bytes": arena_margin_bytes,
               "summary": footprint_text(fp)})

    out_dir = Path(out_dir)
    texts = {**c_array_files(data, source_name, trained_on), "model_settings.h": settings,
             "model_ops.h": ops_text}
    files = {}
    for name, text in texts.items():
        write_text_atomic(out_dir / name, text)
        files[name] = out_dir / name
    write_json_atomic(out_dir / "footprint.json", fp)
    files["footprint.json"] = out_dir / "footprint.json"
    return ExportResult(out_dir=out_dir, files=files, sha256=sha, ops=ops,
                        arena_measured=measured, arena_bytes=arena, footprint=fp)


__all__ = [
    "OP_RESOLVER_METHODS", "FIRMWARE_FILES", "CYCLES_PER_MAC", "MCU_CLOCK_HZ", "ExportError",
    "ExportResult", "model_ops", "count_macs_tflite", "c_array_files", "parse_c_array",
    "ops_header", "settings_header", "arena_with_margin", "footprint", "footprint_text",
    "export_firmware",
]
