"""``lrh-tflm models``: parameters and MACs of a profile's models, before anything is trained."""
from __future__ import annotations

import json

import click

from lrh_tflm._cli.common import user_errors


def footprint_rows(profile_name: str, leads_spec: str, n_classes: int | None) -> dict:
    """Build every model of a profile and count its parameters and MACs.

    Returns
    -------
    dict
        ``{"profile", "window", "fs", "leads", "classes", "models": [row, …]}`` with one row
        per model: ``{"model", "variant", "leads", "trainable", "total", "macs"}``.
    """
    from dataclasses import replace

    from lrh_tflm.config import STUDENT_VARIANTS, get_profile
    from lrh_tflm.data.labels import scored_space
    from lrh_tflm.leads import LEADS, label, parse_leads

    # Validate the user's input before the (slow) TensorFlow import.
    profile = get_profile(profile_name)
    leads = parse_leads(leads_spec)
    classes = n_classes if n_classes is not None else len(scored_space())

    from lrh_tflm.models import build_student, build_teacher
    from lrh_tflm.models.footprint import count_macs, count_params

    window = profile.data.window
    specs = [("teacher", "se-resnet18", build_teacher, profile.teacher, LEADS)]
    if leads != LEADS:
        specs.append(("teacher", "se-resnet18", build_teacher, profile.teacher, leads))
    for variant in STUDENT_VARIANTS:
        specs.append(("student", variant, build_student, replace(profile.student, variant=variant),
                      leads))
    rows = []
    for kind, variant, builder, cfg, model_leads in specs:
        model = builder(cfg, len(model_leads), window, classes)
        rows.append({"model": kind, "variant": variant, "leads": label(model_leads),
                     **count_params(model), "macs": count_macs(model)})
    return {"profile": profile.name, "window": window, "fs": profile.data.fs,
            "leads": list(leads), "classes": classes, "models": rows}


def _table(info: dict) -> str:
    head = (f"profile {info['profile']}: window {info['window']} samples at {info['fs']:g} Hz, "
            f"{info['classes']} classes; MACs per window at batch 1")
    cols = f"{'model':<8} {'variant':<12} {'leads':<10} {'trainable':>11} {'total':>11} {'MACs':>15}"
    lines = [head, cols, "-" * len(cols)]
    for r in info["models"]:
        lines.append(f"{r['model']:<8} {r['variant']:<12} {r['leads']:<10} {r['trainable']:>11,} "
                     f"{r['total']:>11,} {r['macs']:>15,}")
    return "\n".join(lines)


@click.command()
@click.option("--profile", default="default", show_default=True,
              help="Profile giving the model configs and the window (smoke, default, paper).")
@click.option("--leads", default="2", show_default=True,
              help="Student leads: a set size (12, 6, 4, 3, 2) or names, e.g. I,II.")
@click.option("--classes", "n_classes", type=click.IntRange(min=1), default=None,
              help="Output classes [default: the 26 scored classes of the 2021 Challenge].")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object instead of a table.")
@user_errors
def models(profile: str, leads: str, n_classes: int | None, as_json: bool):
    """Parameters (trainable, total) and MACs of the teacher and both LRH-Net variants.

    The teacher is counted at 12 leads and at the student's leads; nothing is trained.
    """
    info = footprint_rows(profile, leads, n_classes)  # imports TensorFlow, only here
    click.echo(json.dumps(info, indent=2) if as_json else _table(info))
