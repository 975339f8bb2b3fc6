"""The build report: PNG figures, ``report.md``, ``model_card.json`` and ``benchmark.json``.

Pure presentation: it receives measured numbers and arrays from :mod:`lrh_tflm.build` and
draws them; nothing here trains, converts or times anything.
"""
from __future__ import annotations

import csv
from dataclasses import dataclass, field
from pathlib import Path
from typing import Sequence

import numpy as np

from lrh_tflm.io import write_json_atomic, write_text_atomic


@dataclass
class ModelResult:
    """One model's measured facts, as shown in the report.

    Attributes
    ----------
    name
        Report name, e.g. ``"teacher-12"``, ``"student-kd"``, ``"student-int8"``.
    leads
        Input leads.
    params, macs
        Trainable parameters and multiply-accumulates per window (``None`` if unknown).
    metrics
        Test-split metrics: ``score``, ``auroc``, ``auprc``, ``f1`` and ``per_class``.
    probs
        Test-split probabilities (records × classes), for the ROC curves.
    history
        Path to the stage's Keras ``history.csv`` (``None`` if not trained here).
    latency_ms
        Median single-thread LiteRT latency per window, if measured.
    tflite_bytes
        Size of its ``.tflite`` flatbuffer, if converted.
    """

    name: str
    leads: tuple[str, ...]
    params: int | None
    macs: int | None
    metrics: dict
    probs: np.ndarray | None = None
    history: Path | None = None
    latency_ms: float | None = None
    tflite_bytes: int | None = None


@dataclass
class Strips:
    """Example ECG strips from the test split."""

    ecg: np.ndarray            # (n, T, L) normalised windows
    leads: tuple[str, ...]
    fs: float
    names: Sequence[str]
    true: Sequence[Sequence[str]]
    pred: Sequence[Sequence[str]]


def _plt():
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    return plt


def read_history(path: Path) -> dict[str, list[float]]:
    """Read a Keras ``CSVLogger`` file into columns."""
    cols: dict[str, list[float]] = {}
    with open(path) as fh:
        for row in csv.DictReader(fh):
            for k, v in row.items():
                try:
                    cols.setdefault(k, []).append(float(v))
                except (TypeError, ValueError):
                    pass
    return cols


def plot_training_curves(results: Sequence[ModelResult], path: Path) -> Path | None:
    """Loss and validation score per epoch, one panel per trained stage."""
    trained = [r for r in results if r.history is not None and Path(r.history).exists()]
    if not trained:
        return None
    plt = _plt()
    fig, axes = plt.subplots(len(trained), 2, figsize=(10, 2.6 * len(trained)), squeeze=False)
    for row, r in zip(axes, trained):
        h = read_history(Path(r.history))
        epochs = [int(e) + 1 for e in h.get("epoch", range(len(h.get("loss", []))))]
        for key in ("loss", "val_loss"):
            if key in h:
                row[0].plot(epochs, h[key], marker="o", label=key)
        row[0].set_title(f"{r.name}: loss")
        row[0].legend(fontsize=8)
        for key in sorted(k for k in h if k.startswith("val_") and k != "val_loss"):
            row[1].plot(epochs, h[key], marker="o", label=key)
        row[1].set_title(f"{r.name}: validation metrics")
        row[1].legend(fontsize=8)
        for ax in row:
            ax.set_xlabel("epoch")
            ax.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def roc_curve(y: np.ndarray, p: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """False- and true-positive rates of one class over all thresholds."""
    order = np.argsort(-p, kind="mergesort")
    y = y[order].astype(bool)
    tps = np.concatenate([[0], np.cumsum(y)])
    fps = np.concatenate([[0], np.cumsum(~y)])
    return fps / max(fps[-1], 1), tps / max(tps[-1], 1)


def plot_roc(result: ModelResult, y: np.ndarray, abbreviations: Sequence[str], path: Path) -> Path | None:
    """Per-class ROC curves of one model on the test split."""
    if result.probs is None:
        return None
    plt = _plt()
    fig, ax = plt.subplots(figsize=(6, 5.5))
    for c, abbr in enumerate(abbreviations):
        if y[:, c].all() or not y[:, c].any():
            continue
        fpr, tpr = roc_curve(y[:, c], result.probs[:, c])
        auc = float(np.trapezoid(tpr, fpr))
        ax.plot(fpr, tpr, label=f"{abbr} ({auc:.2f})")
    ax.plot([0, 1], [0, 1], color="grey", lw=0.8, ls="--")
    ax.set_xlabel("false-positive rate")
    ax.set_ylabel("true-positive rate")
    ax.set_title(f"Per-class ROC, {result.name} (test split)")
    ax.legend(fontsize=7, loc="lower right")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def plot_comparison(results: Sequence[ModelResult], path: Path) -> Path:
    """Teacher vs students: score, AUROC, parameters, MACs, latency, size."""
    plt = _plt()
    panels = [
        ("challenge score", lambda r: r.metrics.get("score"), False),
        ("macro AUROC", lambda r: r.metrics.get("auroc"), False),
        ("trainable parameters", lambda r: r.params, True),
        ("MACs / window", lambda r: r.macs, True),
        ("latency ms (LiteRT, 1 thread)", lambda r: r.latency_ms, True),
        (".tflite bytes", lambda r: r.tflite_bytes, True),
    ]
    fig, axes = plt.subplots(2, 3, figsize=(13, 6.5))
    names = [r.name for r in results]
    colours = ["#7b3294" if n.startswith("teacher") else "#008837" for n in names]
    for ax, (title, get, log) in zip(axes.flat, panels):
        vals = [get(r) for r in results]
        shown = [(n, v, c) for n, v, c in zip(names, vals, colours) if v is not None]
        if shown:
            ax.barh([s[0] for s in shown], [float(s[1]) for s in shown], color=[s[2] for s in shown])
            for i, (_, v, _) in enumerate(shown):
                ax.text(float(v), i, f" {_fmt(v)}", va="center", fontsize=8)
        if log and shown and min(float(s[1]) for s in shown) > 0:
            ax.set_xscale("log")
        ax.set_title(title)
        ax.invert_yaxis()
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def plot_f1(results: Sequence[ModelResult], abbreviations: Sequence[str], path: Path) -> Path | None:
    """Per-class F1 bars, one group per class, one bar per model."""
    with_f1 = [r for r in results if r.metrics.get("per_class")]
    if not with_f1:
        return None
    plt = _plt()
    n = len(with_f1)
    x = np.arange(len(abbreviations))
    width = 0.8 / n
    fig, ax = plt.subplots(figsize=(max(8, len(abbreviations) * 0.7), 4))
    for i, r in enumerate(with_f1):
        f1 = [row.get("f1", np.nan) for row in r.metrics["per_class"]]
        ax.bar(x + i * width - 0.4 + width / 2, f1, width, label=r.name)
    ax.set_xticks(x, abbreviations, rotation=45, ha="right")
    ax.set_ylabel("F1 (test, tuned thresholds)")
    ax.set_ylim(0, 1)
    ax.legend(fontsize=8, ncol=min(n, 4))
    ax.grid(axis="y", alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def plot_strips(strips: Strips, path: Path) -> Path:
    """Example test windows with true and predicted labels."""
    plt = _plt()
    n = len(strips.names)
    fig, axes = plt.subplots(n, 1, figsize=(11, 1.9 * n), squeeze=False)
    t = np.arange(strips.ecg.shape[1]) / strips.fs
    for ax, ecg, name, true, pred in zip(axes[:, 0], strips.ecg, strips.names, strips.true, strips.pred):
        for li, lead in enumerate(strips.leads):
            ax.plot(t, ecg[:, li] - 4 * li, lw=0.7, label=lead)
        ok = set(true) == set(pred)
        ax.set_title(f"{name}   true: {', '.join(true) or '—'}   predicted: {', '.join(pred) or '—'}",
                     fontsize=9, color="black" if ok else "#b2182b", loc="left")
        ax.set_yticks([])
        ax.set_xlim(t[0], t[-1])
    axes[-1, 0].set_xlabel("seconds")
    axes[0, 0].legend(fontsize=7, loc="upper right", ncol=len(strips.leads))
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path


def _fmt(v) -> str:
    if v is None:
        return "—"
    if isinstance(v, (int, np.integer)) or (isinstance(v, float) and v.is_integer() and abs(v) >= 1000):
        return f"{int(v):,}"
    if isinstance(v, float):
        return f"{v:.3f}" if abs(v) < 100 else f"{v:,.0f}"
    return str(v)


def markdown_table(header: Sequence[str], rows: Sequence[Sequence]) -> str:
    """A GitHub-flavoured Markdown table."""
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(_fmt(v) for v in row) + " |" for row in rows]
    return "\n".join(lines)


@dataclass
class ReportInputs:
    """Everything the report shows."""

    title: str
    results: list[ModelResult]
    y_test: np.ndarray
    classes: Sequence[str]
    abbreviations: Sequence[str]
    thresholds: Sequence[float]
    benchmark: dict
    model_card: dict
    strips: Strips | None = None
    roc_model: str = "student-int8"
    notes: list[str] = field(default_factory=list)


def write_report(out_dir: Path, inputs: ReportInputs) -> Path:
    """Write figures, ``report.md``, ``model_card.json`` and ``benchmark.json`` into ``out_dir``.

    Returns
    -------
    Path
        The ``report.md`` path.
    """
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    figs: list[tuple[str, Path | None]] = []
    figs.append(("Training curves", plot_training_curves(inputs.results, out_dir / "training_curves.png")))
    roc_src = next((r for r in inputs.results if r.name == inputs.roc_model and r.probs is not None),
                   next((r for r in inputs.results if r.probs is not None), None))
    if roc_src is not None:
        figs.append((f"Per-class ROC ({roc_src.name})",
                     plot_roc(roc_src, inputs.y_test, inputs.abbreviations, out_dir / "roc.png")))
    figs.append(("Teacher vs students", plot_comparison(inputs.results, out_dir / "comparison.png")))
    figs.append(("Per-class F1", plot_f1(inputs.results, inputs.abbreviations, out_dir / "f1.png")))
    if inputs.strips is not None:
        figs.append(("Example test strips", plot_strips(inputs.strips, out_dir / "strips.png")))

    rows = [(r.name, ",".join(r.leads) if len(r.leads) < 12 else "12", r.metrics.get("score"),
             r.metrics.get("auroc"), r.metrics.get("f1"), r.params, r.macs, r.latency_ms, r.tflite_bytes)
            for r in inputs.results]
    md = [f"# {inputs.title}", ""]
    md += [markdown_table(["model", "leads", "challenge score", "macro AUROC", "macro F1",
                           "parameters", "MACs/window", "latency ms", ".tflite bytes"], rows), ""]
    b = inputs.benchmark
    headline = []
    if b.get("param_ratio"):
        headline.append(f"- teacher/student parameter ratio: {b['param_ratio']:.1f}×")
    if b.get("kd_gain_pct") is not None:
        headline.append(f"- knowledge-distillation gain over the student alone: {b['kd_gain_pct']:+.2f} % (relative, challenge score)")
    if b.get("qat_drop_points") is not None:
        headline.append(f"- int8 vs float student: {b['qat_drop_points']:+.2f} challenge-score points (float − int8)")
    if b.get("latency_reduction_pct") is not None:
        headline.append(f"- latency reduction teacher → int8 student: {b['latency_reduction_pct']:.1f} %")
    if b.get("parity") is not None:
        headline.append(f"- TFLM host runtime == LiteRT reference on {100 * b['parity']:.1f} % of windows")
    if b.get("arena_bytes") is not None:
        headline.append(f"- measured TFLM arena: {b['arena_bytes']:,} bytes")
    md += headline + [""]
    md += inputs.notes + ([""] if inputs.notes else [])
    for caption, p in figs:
        if p is not None:
            md += [f"## {caption}", "", f"![{caption}]({p.name})", ""]
    md += ["## Thresholds", "",
           markdown_table(["class", "abbreviation", "threshold"],
                          [(c, a, float(t)) for c, a, t in zip(inputs.classes, inputs.abbreviations,
                                                                inputs.thresholds)]), ""]
    md += ["Machine-readable: [`benchmark.json`](benchmark.json), [`model_card.json`](model_card.json).", ""]
    write_json_atomic(out_dir / "benchmark.json", inputs.benchmark)
    write_json_atomic(out_dir / "model_card.json", inputs.model_card)
    path = out_dir / "report.md"
    write_text_atomic(path, "\n".join(md))
    return path
