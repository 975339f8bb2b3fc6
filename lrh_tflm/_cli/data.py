"""``lrh-tflm data``: synthesise, inspect and prepare ECG datasets."""
from __future__ import annotations

from pathlib import Path

import click

from lrh_tflm._cli.common import user_errors


@click.group()
def data():
    """Synthesise, inspect and prepare ECG datasets."""


@data.command("synth")
@click.option("--out", "out", required=True, type=click.Path(file_okay=False, path_type=Path),
              help="Folder to write the Challenge-format records into (empty or an earlier synthetic set).")
@click.option("--records", type=click.IntRange(min=1), default=None,
              help="Number of records [default: the profile's].")
@click.option("--seed", type=int, default=None, help="Random seed [default: the profile's].")
@click.option("--profile", default="default", show_default=True,
              help="Profile whose SynthConfig gives the defaults (smoke, default, paper).")
@click.option("--workers", type=click.IntRange(min=1), default=None,
              help="Processes to use [default: all cores]; the files do not depend on it.")
@click.option("--progress/--no-progress", default=True, show_default=True, help="Show a progress bar.")
@user_errors
def synth(out: Path, records: int | None, seed: int | None, profile: str, workers: int | None,
          progress: bool):
    """Generate the built-in synthetic 12-lead dataset (PhysioNet/CinC 2021 format)."""
    from lrh_tflm.config import get_profile, replace
    from lrh_tflm.data.synthetic import write_dataset

    cfg = get_profile(profile).synth
    if records is not None:
        cfg = replace(cfg, records=records)
    if seed is not None:
        cfg = replace(cfg, seed=seed)
    summary = write_dataset(out, cfg, progress=progress, workers=workers)
    click.echo(f"wrote {summary['records']} records ({cfg.fs} Hz, {cfg.seconds:g} s, 12 leads, "
               f"seed {cfg.seed}) to {out} in {summary['elapsed_s']:.1f} s "
               f"({summary['records_per_s']:.0f} records/s, {summary['workers']} workers); "
               f"datasheet: {out / 'DATASET.md'}")
    click.echo(f"{'class':<6} {'SNOMED CT':>10} {'records':>8} {'%':>6}")
    for row in summary["classes"]:
        click.echo(f"{row['abbr']:<6} {row['code']:>10} {row['count']:>8} {row['percent']:>6.1f}")
