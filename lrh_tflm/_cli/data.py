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


# ----------------------------------------------------------------------- inspect / prepare
# Neither command imports TensorFlow: everything below is numpy/scipy.

_DATA_HELP = ("Records to read: a Challenge folder, ptbxl:DIR, csv:FILE, challenge:DIR, or "
              "'synthetic' (the built-in set, generated once into the cache).")


def _open(data_spec: str, profile: str, cache: Path | None, require_labels: bool,
          progress: bool):
    from lrh_tflm._cli.common import default_cache_dir
    from lrh_tflm.config import get_profile
    from lrh_tflm.data.sources import open_source

    prof = get_profile(profile)
    cache_dir = Path(cache) if cache is not None else default_cache_dir()
    source = open_source(data_spec, cache_dir=cache_dir, synth=prof.synth,
                         require_labels=require_labels, progress=progress)
    return prof, cache_dir, source


@data.command("inspect")
@click.argument("data_spec", metavar="DATA", default="synthetic")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object instead of the table.")
@click.option("--strict", is_flag=True, help="The first problem with a record is an error.")
@click.option("--no-labels-required", is_flag=True,
              help="Read records without diagnoses instead of reporting them.")
@click.option("--profile", default="default", show_default=True,
              help="Profile whose preprocessing checks (and synthetic set) apply.")
@click.option("--cache", type=click.Path(file_okay=False, path_type=Path), default=None,
              help="Cache folder [default: $LRH_TFLM_CACHE or ~/.cache/lrh-tflm].")
@click.option("--workers", type=click.IntRange(min=1), default=None,
              help="Processes to read with [default: all cores].")
@click.option("--progress/--no-progress", default=True, show_default=True,
              help="Show a progress bar (on stderr).")
@user_errors
def inspect_cmd(data_spec: str, as_json: bool, strict: bool, no_labels_required: bool,
                profile: str, cache: Path | None, workers: int | None, progress: bool):
    """Read every record of DATA and summarise rates, durations, leads, labels and problems.

    Records that `data prepare` would skip (unreadable, NaN, flat, too short, missing leads)
    are listed with the reason.
    """
    import json

    from lrh_tflm.data.inspect import format_summary, inspect_source
    from lrh_tflm.data.record import ProblemLog
    from lrh_tflm.io import to_jsonable

    prof, _, source = _open(data_spec, profile, cache, not no_labels_required, progress)
    summary = inspect_source(source, problems=ProblemLog(strict=strict), progress=progress,
                             workers=workers, pre=prof.data)
    if as_json:
        click.echo(json.dumps(to_jsonable(summary)))
    else:
        click.echo(format_summary(summary))


@data.command("prepare")
@click.argument("data_spec", metavar="DATA", default="synthetic")
@click.option("--profile", default="default", show_default=True,
              help="Profile whose preprocessing and label configuration are used.")
@click.option("--cache", type=click.Path(file_okay=False, path_type=Path), default=None,
              help="Cache folder [default: $LRH_TFLM_CACHE or ~/.cache/lrh-tflm].")
@click.option("--strict", is_flag=True, help="The first problem with a record is an error.")
@click.option("--workers", type=click.IntRange(min=1), default=None,
              help="Processes to read with [default: all cores].")
@click.option("--progress/--no-progress", default=True, show_default=True,
              help="Show a progress bar (on stderr).")
@user_errors
def prepare_cmd(data_spec: str, profile: str, cache: Path | None, strict: bool,
                workers: int | None, progress: bool):
    """Read, check, resample and band-pass every record of DATA into the reusable cache.

    Prints the cache folder, the record count, the class counts and the skipped records;
    the skipped records are also saved as problems.json in the cache folder.
    """
    import time

    from lrh_tflm.data.cache import prepare
    from lrh_tflm.data.record import ProblemLog

    prof, cache_dir, source = _open(data_spec, profile, cache, True, progress)
    problems = ProblemLog(strict=strict)
    t0 = time.perf_counter()
    prepared = prepare(source, prof.data, prof.labels, cache_dir / "prepared",
                       problems=problems, workers=workers, progress=progress)
    elapsed = time.perf_counter() - t0
    m = prepared.manifest
    click.echo(f"prepared   {prepared.path}")
    click.echo(f"records    {len(prepared)} ({m['fs']:g} Hz, {m['cache_len']} samples, "
               f"{len(m['leads'])} leads) in {elapsed:.1f} s")
    counts = m["class_counts"]
    click.echo(f"classes    {len(counts)} ({m['records_without_class']} records in none)")
    click.echo(f"  {'class':<22} {'abbr':<12} {'records':>7}")
    for cls, abbr in zip(prepared.classes.classes, prepared.classes.abbreviations):
        click.echo(f"  {cls:<22} {abbr[:12]:<12} {counts[cls]:>7}")
    for d in m.get("dropped_classes", []):
        if d["count"]:
            click.echo(f"  dropped {d['class']} ({d['abbreviation']}): {d['count']} record(s) "
                       f"< min_count {prof.labels.min_count}")
    click.echo(problems.summary())
    if len(problems) or problems.warnings:
        click.echo(f"problems   {prepared.path / 'problems.json'}")
