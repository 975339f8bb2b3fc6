"""``lrh-tflm build``: one command from records to a firmware-ready int8 model."""
from __future__ import annotations

import sys
from pathlib import Path

import click

from lrh_tflm._cli.common import default_cache_dir, user_errors
from lrh_tflm.config import KD_RECIPES, PROFILES, STUDENT_VARIANTS


@click.command()
@click.option("--leads", default="2", show_default=True,
              help="Student leads: a Challenge set size (12, 6, 4, 3, 2) or a list such as I,II.")
@click.option("--data", "data_spec", default="synthetic", show_default=True,
              help="Records: synthetic (built-in), challenge:DIR, ptbxl:DIR, csv:FILE or a folder.")
@click.option("--kd", type=click.Choice(["none", "vanilla", "parallel", "sequential"]), default=None,
              help="Knowledge-distillation scheme [default: the profile's].")
@click.option("--recipe", type=click.Choice(list(KD_RECIPES)), default=None,
              help="Named KD recipe (loss, alpha, T, teacher weights, schedule); 'paper' is the "
                   "LRH-Net paper's exactly [default: the profile's].")
@click.option("--loss", type=click.Choice(["kl-softmax", "bce-sigmoid", "mse-logits"]), default=None,
              help="Distillation loss [default: the profile's or the recipe's].")
@click.option("--student", type=click.Choice(list(STUDENT_VARIANTS)), default=None,
              help="Student variant [default: the profile's].")
@click.option("--profile", type=click.Choice(list(PROFILES)), default="default",
              show_default=True, help="smoke: tiny, for tests; default: CPU, synthetic; paper: the "
                                      "paper's setup (GPU); ptbxl: real data on a laptop "
                                      "(100 Hz, 2.5-s windows, about an hour on 2 cores).")
@click.option("--quantization", type=click.Choice(["qat", "ptq"]), default=None,
              help="Quantisation-aware training or post-training only [default: the profile's].")
@click.option("--out", type=click.Path(file_okay=False, path_type=Path), default=Path("build"),
              show_default=True, help="Build folder (one sub-folder per stage; rerun to resume).")
@click.option("--firmware", type=click.Path(file_okay=False, path_type=Path), default=None,
              help="Also write the generated model files into this sketch folder, e.g. "
                   "firmware/lrh_ecg; a new folder gets the whole sketch first.")
@click.option("--seed", type=int, default=0, show_default=True, help="Random seed.")
@click.option("--cache", type=click.Path(file_okay=False, path_type=Path), default=None,
              help="Cache folder [default: $LRH_TFLM_CACHE or ~/.cache/lrh-tflm].")
@click.option("--strict", is_flag=True, help="Stop at the first record problem.")
@click.option("--workers", type=click.IntRange(min=1), default=None,
              help="Processes for data preparation [default: all cores].")
@click.option("--quiet", is_flag=True, help="No progress bars or per-epoch lines.")
@click.option("--strategy", type=click.Choice(["default", "mirrored", "multiworker"]),
              default="default", show_default=True,
              help="tf.distribute strategy of every training stage (teachers, students, QAT): "
                   "mirrored over the local GPUs, multiworker over the TF_CONFIG cluster (run "
                   "the same command on every worker, each with its own --out). Not in the "
                   "stage keys: finished stages are reused under any strategy.")
@click.option("--emulate", is_flag=True,
              help="Prove the exported firmware files on the emulated Cortex-M4F (as "
                   "`lrh-tflm export --emulate`; needs qemu-system-arm and gcc-arm-none-eabi).")
@click.option("--tflm-dir", type=click.Path(exists=True, file_okay=False, path_type=Path),
              default=None, help="TFLM tree for --emulate [default: ../shared/third_party/"
                                 "tflm-cmsis-nn beside the checkout].")
@user_errors
def build(leads, data_spec, kd, recipe, loss, student, profile, quantization, out, firmware, seed, cache,
          strict, workers, quiet, strategy, emulate, tflm_dir):
    """Records (or the built-in synthetic set) to a firmware-ready int8 model.

    Stages: data → 12-lead teacher → reduced-lead teacher → student with KD → student
    without KD → QAT → int8 → parity → export → report. Each stage writes OUT/<stage>/
    with a stage.json; unchanged stages are reused and a killed build resumes.
    """
    from lrh_tflm.leads import parse_leads
    from lrh_tflm.pipeline.build import BuildOptions
    from lrh_tflm.pipeline.build import build as run_build

    opts = BuildOptions(leads=parse_leads(leads), data=data_spec, kd=kd, recipe=recipe, loss=loss,
                        student=student,
                        profile=profile, out=out, firmware=firmware, seed=seed,
                        quantization=quantization, strict=strict, workers=workers,
                        emulate=emulate, tflm_dir=tflm_dir, strategy=strategy,
                        # Keras progress bars on a terminal, one line per epoch in logs.
                        verbose=0 if quiet else (1 if sys.stdout.isatty() else 2))
    from lrh_tflm.device.emulator import EmulatorError

    try:
        res = run_build(opts, cache_dir=cache or default_cache_dir(), log=click.echo,
                        progress=not quiet)
    except EmulatorError as err:
        raise click.ClickException(str(err)) from None
    b = res.benchmark
    # Label spaces without the Challenge's normal class have no challenge score: AUROC then.
    metric = "score" if b["score"].get("student-int8") is not None else "auroc"
    click.echo(f"student int8: {b['tflite_bytes']:,} B, arena {b['arena_bytes']:,} B, "
               f"test {metric} {b[metric]['student-int8']:.3f} "
               f"(teacher-12 {b[metric]['teacher-12']:.3f}); report: {res.report}")
