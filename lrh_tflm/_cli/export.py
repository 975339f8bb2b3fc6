"""``lrh-tflm export``: saved Keras student → full-int8 ``.tflite`` → parity chain → firmware files.

Thin over the library: :func:`lrh_tflm.artifact.load_model`, the data layer's representative and
evaluation windows, :func:`lrh_tflm.tflite.convert.convert_int8`/``check_ops``,
:func:`lrh_tflm.tflite.parity.parity_chain` and :func:`lrh_tflm.device.codegen.export_firmware`.
"""
from __future__ import annotations

from pathlib import Path

import click

from lrh_tflm._cli.common import user_errors


@click.command("export")
@click.option("--model", "model_dir", required=True,
              type=click.Path(exists=True, file_okay=False, path_type=Path),
              help="Saved Keras student folder (sidecar.json + weights).")
@click.option("--out", required=True, type=click.Path(file_okay=False, path_type=Path),
              help="Output folder: model.tflite, model.json (sidecar), parity.json, firmware/.")
@click.option("--quantization", type=click.Choice(["auto", "ptq", "qat"]), default="auto",
              show_default=True,
              help="ptq: post-training int8 with representative training windows; qat: the saved "
                   "model must already be QAT fine-tuned (lrh-tflm build does that); auto: "
                   "qat if the sidecar says so, else ptq.")
@click.option("--firmware", "firmware_dir", type=click.Path(file_okay=False, path_type=Path),
              default=None, help="Where the generated C++ files go [default: OUT/firmware]; "
                                 "e.g. firmware/lrh_ecg/src.")
@click.option("--data", "data_spec", default="synthetic", show_default=True,
              help="Records for calibration and parity (as for train).")
@click.option("--profile", default="default", show_default=True,
              help="Configuration profile (quantisation, split, hop).")
@click.option("--parity-windows", type=click.IntRange(min=1), default=256, show_default=True,
              help="Validation windows checked by the parity chain.")
@click.option("--tflm-lsb", type=click.IntRange(min=0), default=0, show_default=True,
              help="Allowed |TFLM - LiteRT-ref| in int8 steps (0 = bit-exact; only models with "
                   "FULLY_CONNECTED ops, which the students avoid, need more).")
@click.option("--xnnpack-lsb", type=click.IntRange(min=0), default=1, show_default=True,
              help="Allowed |XNNPACK - LiteRT-ref| per kernel, in int8 steps.")
@click.option("--cache", type=click.Path(file_okay=False, path_type=Path), default=None,
              help="Cache folder [default: $LRH_TFLM_CACHE or ~/.cache/lrh-tflm].")
@click.option("--workers", type=click.IntRange(min=1), default=None,
              help="Processes for data preparation.")
@user_errors
def export(model_dir, out, quantization, firmware_dir, data_spec, profile, parity_windows,
           tflm_lsb, xnnpack_lsb, cache, workers):
    """Convert a saved student to full int8, check it on TFLM/LiteRT, and write the firmware files."""
    import numpy as np

    from lrh_tflm._cli.train import _prepare
    from lrh_tflm.config import get_profile
    from lrh_tflm.data.pipeline import eval_windows, representative_windows
    from lrh_tflm.artifact import load_model, sidecar_classes, write_model_bundle
    from lrh_tflm.device.codegen import export_firmware
    from lrh_tflm.tflite.convert import check_ops, convert_int8
    from lrh_tflm.tflite.parity import parity_chain

    prof = get_profile(profile)
    model, meta = load_model(model_dir)
    saved_mode = meta.get("quantization", "float")
    mode = quantization if quantization != "auto" else ("qat" if saved_mode == "qat" else "ptq")
    if mode == "qat" and saved_mode != "qat":
        raise click.ClickException(
            f"{model_dir} holds float weights (not QAT fine-tuned); QAT fine-tuning runs in "
            "`lrh-tflm build`. Use --quantization ptq to quantise it post-training.")

    prepared, splits = _prepare(data_spec, prof, cache, workers, progress=False)
    window, leads = int(meta["window"]), list(meta["leads"])
    ecg, demo = representative_windows(prepared, splits["train"],
                                       prof.quant.representative_windows, window, leads=leads)
    tflite = convert_int8(model, ((ecg[i:i + 1], demo[i:i + 1]) for i in range(len(ecg))))
    ops = check_ops(tflite)
    sidecar = {**meta, "hop": prof.hop, "quantization": mode, "tflite_ops": ops}
    model_path = write_model_bundle(tflite, sidecar, out)
    click.echo(f"int8 model ({mode}): {model_path} ({len(tflite):,} bytes; ops {', '.join(ops)})")

    # Held-out records first (validation, test); training records only to reach the count.
    val = np.concatenate([np.asarray(splits[k], dtype=np.int64)
                          for k in ("val", "test", "train")])[:parity_windows]
    x, d, _ = eval_windows(prepared, val, window, leads=leads)
    _, abbreviations = sidecar_classes(meta)
    report = parity_chain(tflite, x, d, [prepared.names[i] for i in val],
                          thresholds=meta.get("thresholds") or [0.5] * len(abbreviations),
                          classes=abbreviations, keras_model=model, max_lsb=xnnpack_lsb,
                          tflm_tolerance_lsb=tflm_lsb)
    report.save(Path(out) / "parity.json")
    click.echo(report.summary())

    result = export_firmware(model_path, sidecar, firmware_dir or Path(out) / "firmware",
                             hop=prof.hop, arena_margin=prof.quant.arena_margin,
                             arena_margin_bytes=prof.quant.arena_margin_bytes, keras_model=model)
    click.echo(f"firmware files in {result.out_dir}: {', '.join(result.files)}")
    click.echo(result.footprint["summary"])
    if not report.passed:
        for failure in report.failures[:10]:
            click.echo(f"  {failure}", err=True)
        raise click.ClickException(f"parity chain failed; see {Path(out) / 'parity.json'}")
