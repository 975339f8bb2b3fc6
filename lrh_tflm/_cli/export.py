"""``lrh-tflm export``: saved Keras student → full-int8 ``.tflite`` → parity chain → firmware files.

Thin over the same recipes as ``lrh-tflm build`` (:mod:`lrh_tflm.pipeline.recipes`):
:func:`~lrh_tflm.pipeline.recipes.convert_student` (float or QAT model, as its sidecar says),
:func:`~lrh_tflm.pipeline.recipes.parity_stage` and
:func:`~lrh_tflm.pipeline.recipes.export_stage`.
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
                   "model must already be QAT fine-tuned (lrh-tflm build does that: OUT/qat/model); "
                   "auto: qat if the sidecar says so (\"qat\": true), else ptq.")
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
@click.option("--seed", type=int, default=0, show_default=True,
              help="Seed of the representative windows and the split (as for build).")
@click.option("--emulate", is_flag=True,
              help="Also prove the firmware files on the emulated Cortex-M4F (QEMU mps2-an386, "
                   "needs qemu-system-arm and gcc-arm-none-eabi): the sketch + TFLM as an ELF, "
                   "a synthetic ECG replayed, every window's int8 outputs equal to the host "
                   "TFLM's; footprint.json gets the measured instructions per inference.")
@click.option("--tflm-dir", type=click.Path(exists=True, file_okay=False, path_type=Path),
              default=None, help="TFLM tree for --emulate [default: ../shared/third_party/"
                                 "tflm-cmsis-nn beside the checkout].")
@user_errors
def export(model_dir, out, quantization, firmware_dir, data_spec, profile, parity_windows,
           tflm_lsb, xnnpack_lsb, cache, workers, seed, emulate, tflm_dir):
    """Convert a saved student to full int8, check it on TFLM/LiteRT, and write the firmware files."""
    import numpy as np

    from lrh_tflm._cli.train import _prepare
    from lrh_tflm.artifact import read_sidecar, write_model_bundle
    from lrh_tflm.config import get_profile, replace
    from lrh_tflm.pipeline import recipes

    prof = get_profile(profile)
    prof = replace(prof, split=replace(prof.split, seed=seed))
    read_sidecar(model_dir)  # a clear error now, before data preparation
    prepared, splits = _prepare(data_spec, prof, cache, workers, progress=False)
    try:
        converted = recipes.convert_student(model_dir, prepared, splits, profile=prof, seed=seed,
                                            mode=quantization)
    except ValueError as err:
        raise click.ClickException(str(err)) from None
    tflite, sidecar = converted.tflite, converted.sidecar
    model_path = write_model_bundle(tflite, sidecar, out)
    click.echo(f"int8 model ({converted.mode}): {model_path} ({len(tflite):,} bytes; "
               f"ops {', '.join(sidecar['tflite_ops'])})")

    # Held-out records first (validation, test); training records only to reach the count.
    idx = np.concatenate([np.asarray(splits[k], dtype=np.int64)
                          for k in ("val", "test", "train")])[:parity_windows]
    report = recipes.parity_stage(converted, prepared, idx, tflm_tolerance_lsb=tflm_lsb,
                                  max_lsb=xnnpack_lsb)
    report.save(Path(out) / "parity.json")
    click.echo(report.summary())

    result = recipes.export_stage(model_path, sidecar, firmware_dir or Path(out) / "firmware",
                                  profile=prof)
    click.echo(f"firmware files in {result.out_dir}: {', '.join(result.files)}")
    click.echo(result.footprint["summary"])
    if emulate:
        from lrh_tflm.device.emulator import EmulatorError, emulate_export, emulate_summary
        try:
            click.echo(emulate_summary(emulate_export(result.out_dir, tflm_dir)))
        except EmulatorError as err:
            raise click.ClickException(str(err)) from None
    if not report.passed:
        for failure in report.failures[:10]:
            click.echo(f"  {failure}", err=True)
        raise click.ClickException(f"parity chain failed; see {Path(out) / 'parity.json'}")
