"""``data inspect``: read every record of a source once and summarise what is there.

The summary is a plain JSON-friendly dict (keys ``spec``, ``kind``, ``listed``, ``records``,
``fs``, ``durations``, ``leads``, ``labels``, ``records_without_labels``, ``ages``,
``sexes``, ``problems``, ``warnings``); :func:`format_summary` renders it as a short aligned table.
"""
from __future__ import annotations

from collections import Counter
from dataclasses import dataclass

import numpy as np

from lrh_tflm.config import PreprocessConfig
from lrh_tflm.data.cache import map_records
from lrh_tflm.data.labels import all_codes_space, describe
from lrh_tflm.data.preprocess import check_record, to_canonical
from lrh_tflm.data.record import DataSource, ProblemLog, RecordRef
from lrh_tflm.leads import label as lead_label


@dataclass(frozen=True)
class _InspectOne:
    """Per-record work of :func:`inspect_source`: read, optionally check, keep only facts."""

    pre: PreprocessConfig | None

    def __call__(self, source: DataSource, ref: RecordRef, index: int):
        rec = source.read(ref)
        notes = tuple(rec.notes)
        if self.pre is not None:
            notes = check_record(rec, self.pre)
            to_canonical(rec, self.pre.leads)
        return (rec.name, float(rec.fs), rec.n_samples, tuple(rec.leads), tuple(rec.labels),
                rec.age, rec.sex, notes)


def _stats(values: list[float]) -> dict:
    if not values:
        return {"min": None, "median": None, "max": None}
    arr = np.asarray(values, dtype=np.float64)
    return {"min": float(arr.min()), "median": float(np.median(arr)), "max": float(arr.max())}


def _fs_key(fs: float) -> str:
    return f"{fs:g}"


def inspect_source(source: DataSource, *, problems: ProblemLog, progress: bool = True,
                   workers: int | None = None, pre: PreprocessConfig | None = None) -> dict:
    """Read every record of ``source`` (in parallel) and summarise it.

    Parameters
    ----------
    source
        The records to inspect.
    problems
        Receives listing problems and every record that cannot be read (or, with ``pre``,
        would be skipped by preprocessing); strict mode raises at the first.
    progress
        Show a progress bar on stderr.
    workers
        Worker processes (``None``: one per core).
    pre
        When given, also run the preprocessing checks (:func:`~lrh_tflm.data.preprocess.check_record`,
        required leads) so the summary lists exactly the records ``data prepare`` would skip.

    Returns
    -------
    dict
        ``records`` (readable count), ``listed``, ``fs`` (count per rate in Hz),
        ``durations`` (min/median/max seconds), ``leads`` (count per lead set), ``labels``
        (list of ``{code, abbreviation, description, count}``, most frequent first),
        ``records_without_labels``, ``ages`` (known count, min/median/max), ``sexes``
        (``M``/``F``/``unknown`` counts), ``problems`` (``[record, reason]`` pairs),
        ``warnings`` (the same, for records that are kept), ``spec`` and ``kind``.
    """
    refs = list(source.refs())
    problems.extend(source.listing_problems())
    rows, failed = [], []
    for i, ok, res in map_records(source, refs, _InspectOne(pre), workers=workers,
                                  progress=progress, desc="inspect"):
        if ok:
            rows.append((i, res))
        elif problems.strict:
            problems.add(*res)
        else:
            failed.append((i, res))
    # Parallel results arrive in completion order; report everything in listing order.
    for _, res in sorted(failed):
        problems.add(*res)
    rows = [res for _, res in sorted(rows, key=lambda r: r[0])]
    for r in rows:
        problems.warn_all(r[0], r[7])

    fs = Counter(_fs_key(r[1]) for r in rows)
    leads = Counter(lead_label(r[3]) if len(r[3]) != 12 else "12" for r in rows)
    codes = Counter(c for r in rows for c in dict.fromkeys(r[4]))
    space = all_codes_space(codes)
    labels = []
    for code, count in sorted(codes.items(), key=lambda kv: (-kv[1], kv[0])):
        i = space.index_of(code)
        labels.append({"code": code,
                       "abbreviation": space.abbreviations[i] if i is not None else code,
                       "description": describe(code), "count": int(count)})
    ages = [float(r[5]) for r in rows if r[5] is not None and np.isfinite(float(r[5]))]
    sexes = Counter(r[6] if r[6] in ("M", "F") else "unknown" for r in rows)
    return {
        "spec": source.spec,
        "kind": source.kind,
        "listed": len(refs),
        "records": len(rows),
        "fs": dict(sorted(fs.items(), key=lambda kv: float(kv[0]))),
        "durations": _stats([r[2] / r[1] for r in rows]),
        "leads": dict(leads.most_common()),
        "labels": labels,
        "records_without_labels": sum(1 for r in rows if not r[4]),
        "ages": {"known": len(ages), **_stats(ages)},
        "sexes": {k: int(sexes.get(k, 0)) for k in ("M", "F", "unknown")},
        "problems": problems.as_pairs(),
        "warnings": problems.warning_pairs(),
    }


def _num(v, fmt: str) -> str:
    return "?" if v is None else format(v, fmt)


def format_summary(summary: dict, *, max_labels: int = 15, max_problems: int = 10) -> str:
    """A few aligned lines for the terminal (the JSON form has everything)."""
    d, a = summary["durations"], summary["ages"]
    skipped = len(summary["problems"])
    warned = len(summary.get("warnings", []))
    lines = [
        ("source", f"{summary['spec']} ({summary['kind']})"),
        ("records", f"{summary['records']} readable of {summary['listed']} listed"
                    + (f", {skipped} problem(s)" if skipped else "")
                    + (f", {warned} warning(s)" if warned else "")),
        ("fs", ", ".join(f"{k} Hz: {v}" for k, v in summary["fs"].items()) or "-"),
        ("duration", f"min {_num(d['min'], '.1f')} s, median {_num(d['median'], '.1f')} s, "
                     f"max {_num(d['max'], '.1f')} s"),
        ("leads", ", ".join(f"{k}: {v}" for k, v in summary["leads"].items()) or "-"),
        ("age", f"{a['known']} known, min {_num(a['min'], 'g')}, median {_num(a['median'], 'g')}, "
                f"max {_num(a['max'], 'g')}"),
        ("sex", ", ".join(f"{k}: {v}" for k, v in summary["sexes"].items())),
        ("unlabelled", str(summary["records_without_labels"])),
    ]
    out = [f"{k:<11}{v}" for k, v in lines]
    labels = summary["labels"]
    if labels:
        out.append(f"labels     {len(labels)} codes; most frequent:")
        out.append(f"  {'code':>10}  {'abbr':<12} {'records':>7}")
        for row in labels[:max_labels]:
            out.append(f"  {row['code']:>10}  {row['abbreviation'][:12]:<12} {row['count']:>7}")
        if len(labels) > max_labels:
            out.append(f"  … {len(labels) - max_labels} more (--json lists all)")
    probs = summary["problems"]
    if probs:
        out.append(f"problems   {len(probs)} record(s) would be skipped:")
        out += [f"  {rec}: {reason}" for rec, reason in probs[:max_problems]]
        if len(probs) > max_problems:
            out.append(f"  … {len(probs) - max_problems} more (--json lists all)")
    else:
        out.append("problems   none")
    warns = summary.get("warnings", [])
    if warns:
        out.append(f"warnings   {len(warns)} (records kept):")
        out += [f"  {rec}: {reason}" for rec, reason in warns[:max_problems]]
        if len(warns) > max_problems:
            out.append(f"  … {len(warns) - max_problems} more (--json lists all)")
    return "\n".join(out)


__all__ = ["inspect_source", "format_summary"]
