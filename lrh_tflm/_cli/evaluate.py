"""``lrh-tflm evaluate``: score a saved Keras model or ``.tflite`` on a dataset."""
from __future__ import annotations

import json
from pathlib import Path

import click

from lrh_tflm._cli.common import default_cache_dir, user_errors


def _f(x) -> str:
    return "  n/a" if x is None or x != x else f"{x:.3f}"


@click.command()
@click.argument("model", type=click.Path(exists=True, path_type=Path))
@click.option("--data", "data_spec", default="synthetic", show_default=True,
              help="Records: synthetic, challenge:DIR, ptbxl:DIR, csv:FILE or a folder.")
@click.option("--split", type=click.Choice(["all", "train", "val", "test"]), default="all",
              show_default=True, help="Which records: all, or one split of the dataset.")
@click.option("--runtime", type=click.Choice(["litert-ref", "litert", "tflm"]), default="litert-ref",
              show_default=True, help="Interpreter for .tflite models.")
@click.option("--profile", type=click.Choice(["smoke", "default", "paper"]), default="default",
              show_default=True, help="Only for --data synthetic: which synthetic set.")
@click.option("--cache", type=click.Path(file_okay=False, path_type=Path), default=None,
              help="Cache folder [default: $LRH_TFLM_CACHE or ~/.cache/lrh-tflm].")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")
@click.option("--strict", is_flag=True, help="Stop at the first record problem.")
@user_errors
def evaluate(model, data_spec, split, runtime, profile, cache, as_json, strict):
    """Challenge score, macro AUROC/AUPRC/F1 and a per-class table for MODEL on --data.

    MODEL is a saved Keras model folder (with sidecar.json) or a .tflite with its
    <model>.json sidecar; its saved preprocessing and thresholds are used.
    """
    from lrh_tflm.config import get_profile
    from lrh_tflm.data.record import ProblemLog
    from lrh_tflm.data.sources import open_source
    from lrh_tflm.evaluate import evaluate_model
    from lrh_tflm.io import to_jsonable

    cache_dir = cache or default_cache_dir()
    source = open_source(data_spec, cache_dir=cache_dir, synth=get_profile(profile).synth,
                         progress=not as_json)
    problems = ProblemLog(strict=strict)
    res = evaluate_model(model, source, cache_dir=cache_dir, problems=problems, split=split,
                         runtime=runtime, progress=not as_json)
    if as_json:
        click.echo(json.dumps(to_jsonable(res)))
        return
    m = res["metrics"]
    click.echo(f"{model} on {res['data']} ({res['split']}, {res['records']} records, "
               f"{res['skipped']} skipped, {len(res['warnings'])} warning(s))")
    click.echo(f"challenge score {_f(m['score'])}   macro AUROC {_f(m['auroc'])}   "
               f"macro AUPRC {_f(m['auprc'])}   macro F1 {_f(m['f1'])}")
    click.echo(f"{'class':<12} {'n':>5} {'thr':>6} {'AUROC':>6} {'AUPRC':>6} {'F1':>6}")
    for row in m["per_class"]:
        click.echo(f"{row.get('abbreviation', row.get('class')):<12} {row.get('positives', 0):>5} "
                   f"{_f(row.get('threshold'))[-6:]:>6} {_f(row.get('auroc')):>6} "
                   f"{_f(row.get('auprc')):>6} {_f(row.get('f1')):>6}")
    if res["missing_classes"]:
        click.echo(f"classes without labels in this data: {', '.join(res['missing_classes'])}")
    if len(problems) or problems.warnings:
        click.echo(problems.summary(), err=True)
