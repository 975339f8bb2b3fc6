"""``lrh-tflm run``: classify WFDB records with an int8 ``.tflite`` on the host (LiteRT or TFLM).

A thin layer over :mod:`lrh_tflm.infer`.  A bad record is reported as ``RECORD: reason`` and
counted; the other records are still processed and the exit code is 1 if any failed.
"""
from __future__ import annotations

from pathlib import Path

import click

from lrh_tflm._cli.common import user_errors


@click.command("run")
@click.argument("records", nargs=-1, required=True)
@click.option("--model", "model_path", required=True,
              type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="The int8 .tflite (its sidecar <model>.json is read from beside it).")
@click.option("--sidecar", type=click.Path(exists=True, dir_okay=False, path_type=Path),
              default=None, help="Sidecar JSON, if not <model>.json.")
@click.option("--runtime", type=click.Choice(["litert", "tflm"]), default="litert",
              show_default=True, help="LiteRT (host kernels) or the TFLite Micro host runtime.")
@click.option("--hop", type=click.IntRange(min=1), default=None,
              help="Samples between windows at the model rate [default: the sidecar's hop, "
                   "the board's kHopSamples].")
@click.option("--json", "as_json", is_flag=True,
              help="JSON lines: one per window, then a max-over-windows line per record.")
@user_errors
def run(records, model_path, sidecar, runtime, hop, as_json):
    """Run RECORD... (WFDB .hea, .mat or base name) through the model, window by window.

    Probabilities per class and window; '*' (or "decisions" in JSON) marks p >= threshold.
    The last row per record is the maximum over its windows.
    """
    from lrh_tflm.artifact import read_bundle_sidecar
    from lrh_tflm.data.record import RecordError
    from lrh_tflm.infer import Predictor, prediction_json_lines, prediction_table, read_record

    meta = read_bundle_sidecar(model_path, sidecar)
    predictor = Predictor(model_path, meta, runtime=runtime)
    # The board's windows: its hop is the bundle's (the build and `export` write it, and the
    # same number becomes kHopSamples in model_settings.h).
    if hop is None and not meta.get("hop"):
        click.echo(f"warning: {model_path.name}'s sidecar has no hop (an older bundle?); "
                   "one window every window length, which is not how the board windows; "
                   "pass --hop", err=True)
    hop = hop or int(meta.get("hop") or predictor.cfg.window)
    failed = warned = 0
    for spec in records:
        try:
            pred = predictor.predict_record(read_record(spec), hop)
        except RecordError as err:
            failed += 1
            click.echo(f"{err.record}: {err.reason}", err=True)
            continue
        for note in pred.notes:
            click.echo(f"{pred.record}: warning: {note}", err=True)
        warned += bool(pred.notes)
        if as_json:
            for line in prediction_json_lines(pred, predictor.abbreviations):
                click.echo(line)
        else:
            click.echo(prediction_table(pred, predictor.abbreviations))
    if warned:
        click.echo(f"{warned} of {len(records)} record(s) with warnings", err=True)
    if failed:
        click.echo(f"{failed} of {len(records)} record(s) failed", err=True)
        raise SystemExit(1)
