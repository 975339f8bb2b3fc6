"""``lrh-tflm train`` and ``lrh-tflm distill``: thin wrappers over
:func:`lrh_tflm.train.train_stage`.

TensorFlow is imported inside the command functions only, so ``--help`` stays fast.
"""
from __future__ import annotations

from pathlib import Path

import click

from lrh_tflm._cli.common import user_errors

_DATA_HELP = ("Records: a Challenge folder, challenge:DIR, ptbxl:DIR, csv:FILE or 'synthetic' "
              "(the built-in set, generated once into the cache).")


def _common(fn):
    """Options shared by ``train`` and ``distill``."""
    options = [
        click.option("--data", "data_spec", default="synthetic", show_default=True,
                     help=_DATA_HELP),
        click.option("--profile", default="default", show_default=True,
                     help="Configuration profile: smoke, default or paper."),
        click.option("--out", type=click.Path(file_okay=False, path_type=Path), required=True,
                     help="Output folder (model/, train/ logs; rerun to resume)."),
        click.option("--strategy", type=click.Choice(["default", "mirrored", "multiworker"]),
                     default="default", show_default=True, help="tf.distribute strategy."),
        click.option("--seed", type=int, default=0, show_default=True, help="Random seed."),
        click.option("--epochs", type=click.IntRange(min=1), default=None,
                     help="Override the profile's maximum epochs."),
        click.option("--cache", type=click.Path(file_okay=False, path_type=Path), default=None,
                     help="Cache folder [default: $LRH_TFLM_CACHE or ~/.cache/lrh-tflm]."),
        click.option("--workers", type=click.IntRange(min=1), default=None,
                     help="Processes for data preparation [default: all cores]."),
        click.option("--verbose", type=click.IntRange(0, 2), default=1, show_default=True,
                     help="Keras progress output: 0 silent, 1 bar, 2 one line per epoch."),
    ]
    for option in reversed(options):
        fn = option(fn)
    return fn


def _prepare(data_spec: str, profile, cache: Path | None, workers: int | None, progress: bool):
    """Prepared data and its splits for the profile (the build's data step)."""
    from lrh_tflm._cli.common import default_cache_dir
    from lrh_tflm.pipeline.recipes import prepare_data

    cache_dir = Path(cache) if cache is not None else default_cache_dir()
    data = prepare_data(data_spec, profile, cache_dir, workers=workers, progress=progress)
    if len(data.problems) or data.problems.warnings:
        click.echo(f"skipped {len(data.problems)} record(s), {len(data.problems.warnings)} "
                   f"warning(s) about records kept; see "
                   f"{data.prepared.path / 'problems.json'}", err=True)
    return data.prepared, data.splits


def _train_cfg(profile, role: str, epochs: int | None):
    from lrh_tflm.config import replace
    from lrh_tflm.train import ROLES

    cfg = getattr(profile, ROLES[role][2])
    return replace(cfg, epochs=epochs) if epochs is not None else cfg


def _fmt(x) -> str:
    return "n/a" if x is None or x != x else f"{x:.3f}"


def _summary_line(trained) -> str:
    from lrh_tflm.leads import label

    s = trained.summary()
    name = "score" if s["score_name"] == "challenge" else "AUROC-selected score"
    return (f"{s['role']} [{label(s['leads'])}]: val {name} {_fmt(s['val_score'])} "
            f"(AUROC {_fmt(s['val_auroc'])}), test {name} {_fmt(s['test_score'])} "
            f"(AUROC {_fmt(s['test_auroc'])}), {s['epochs']} epochs (best {s['best_epoch'] + 1}) "
            f"in {s['seconds']:.1f} s -> {s['model_dir']}")


@click.command("train")
@click.argument("role", type=click.Choice(["teacher", "assistant", "student"]))
@click.option("--leads", default=None,
              help="Input leads: 12, 6, 4, 3, 2 or a list like I,II "
                   "[default: 12 for the teacher, 2 otherwise].")
@_common
@user_errors
def train(role: str, leads: str | None, data_spec: str, profile: str, out: Path, strategy: str,
          seed: int, epochs: int | None, cache: Path | None, workers: int | None, verbose: int):
    """Train a teacher (SE-ResNet18, 12 leads), a reduced-lead assistant or a plain student.

    Prepares DATA with the profile, splits it, trains with early stopping on the validation
    challenge score, tunes per-class thresholds on validation and saves OUT/model with a
    sidecar describing leads, classes, preprocessing, thresholds and metrics.  Rerunning an
    interrupted command resumes from OUT/train/backup.
    """
    from lrh_tflm.config import get_profile
    from lrh_tflm.leads import parse_leads

    prof = get_profile(profile)
    lead_set = parse_leads(leads if leads is not None else ("12" if role == "teacher" else "2"))
    prepared, splits = _prepare(data_spec, prof, cache, workers, verbose > 0)

    from lrh_tflm.train import get_strategy, train_stage

    trained = train_stage(role, prepared, splits, leads=lead_set, profile=prof, out_dir=out,
                          strategy=get_strategy(strategy), seed=seed,
                          train_cfg=_train_cfg(prof, role, epochs), verbose=verbose)
    click.echo(_summary_line(trained))


@click.command("distill")
@click.option("--teacher", type=click.Path(file_okay=False, exists=True, path_type=Path),
              default=None, help="Saved 12-lead teacher (a `train teacher` OUT/model folder); "
                                 "every scheme but none needs it.")
@click.option("--assistant", type=click.Path(file_okay=False, exists=True, path_type=Path),
              default=None, help="Saved reduced-lead teacher: required by parallel; "
                                 "the starting point of the distilled assistant in sequential.")
@click.option("--leads", default="2", show_default=True, help="Student leads (e.g. 2 or I,II,V2).")
@click.option("--kd", "scheme", type=click.Choice(["none", "vanilla", "parallel", "sequential"]),
              default=None, help="KD scheme [default: the profile's].")
@click.option("--loss", type=click.Choice(["kl-softmax", "bce-sigmoid", "mse-logits"]), default=None,
              help="Distillation loss [default: the profile's].")
@_common
@user_errors
def distill(teacher: Path | None, assistant: Path | None, leads: str, scheme: str | None,
            loss: str | None, data_spec: str, profile: str, out: Path, strategy: str, seed: int,
            epochs: int | None, cache: Path | None, workers: int | None, verbose: int):
    """Distil the teacher(s) into an LRH-Net student on reduced leads.

    vanilla: 12-lead teacher -> student.  parallel: 12-lead teacher and the --assistant
    (reduced-lead teacher) -> student at once.  sequential: 12-lead teacher -> assistant
    (saved in OUT/assistant), then teacher + assistant -> student.  The student is saved in
    OUT/model.
    """
    from lrh_tflm.artifact import read_sidecar
    from lrh_tflm.config import get_profile, replace
    from lrh_tflm.distill import distill_schedule, needs
    from lrh_tflm.leads import parse_leads

    prof = get_profile(profile)
    kd = replace(prof.kd, scheme=scheme or prof.kd.scheme, loss=loss or prof.kd.loss)
    prof = replace(prof, kd=kd)
    student_leads = parse_leads(leads)
    models = {name: path for name, path in (("teacher", teacher), ("assistant", assistant))
              if path is not None}
    missing = sorted(needs(kd.scheme) - set(models))
    if missing:
        raise click.UsageError(f"--kd {kd.scheme} needs --{' and --'.join(missing)}")
    for path in models.values():
        read_sidecar(path)  # a clear error now, before data preparation
    assistant_leads = (parse_leads(kd.assistant_leads) if kd.assistant_leads
                       else read_sidecar(assistant)["leads"] if assistant is not None
                       else student_leads)
    prepared, splits = _prepare(data_spec, prof, cache, workers, verbose > 0)

    from lrh_tflm.pipeline.recipes import walk_schedule
    from lrh_tflm.train import get_strategy, train_stage

    strat = get_strategy(strategy)
    results = {}

    def step_fn(step, teachers):
        is_student = step.target == "student"
        results[step.target] = train_stage(
            step.target, prepared, splits,
            leads=student_leads if is_student else assistant_leads, profile=prof,
            out_dir=out if is_student else out / "assistant", teachers=teachers,
            teacher_weights=step.weights,
            init=None if is_student else models.get("assistant"), strategy=strat, seed=seed,
            train_cfg=_train_cfg(prof, step.target, epochs), verbose=verbose)
        if not is_student:
            click.echo(_summary_line(results[step.target]))
        return results[step.target].model_dir

    walk_schedule(distill_schedule(kd.scheme, kd.teacher_weights), step_fn, models)
    click.echo(_summary_line(results["student"]))
