"""The build report: PNG figures, ``report.md``, ``model_card.json`` and ``benchmark.json``.

Pure presentation: it receives measured numbers and arrays from :mod:`lrh_tflm.pipeline.build` and
draws them; nothing here trains, converts or times anything.
"""
from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Sequence

import numpy as np

from lrh_tflm import __version__
from lrh_tflm.artifact import load_model, read_sidecar
from lrh_tflm.data.pipeline import eval_windows
from lrh_tflm.data.sources import data_attribution
from lrh_tflm.device.emulator import emulate_summary
from lrh_tflm.io import read_history, read_json, write_json_atomic, write_text_atomic
from lrh_tflm.leads import lead_indices
from lrh_tflm.models.footprint import count_macs, count_params
from lrh_tflm.train import PREDICTIONS_FILE, load_predictions, predict_probs


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
    val_metrics: dict | None = None
    """Validation-split metrics, where the stage measured them."""


@dataclass
class Strips:
    """Example ECG strips from the test split, in millivolts.

    ``ecg`` holds the windows the model was scored on *before* normalisation (band-passed
    millivolts, as cached), so the strips can be drawn at the standard 10 mm/mV.
    """

    ecg: np.ndarray            # (n, T, L) band-passed millivolts
    leads: tuple[str, ...]
    fs: float
    names: Sequence[str]
    true: Sequence[Sequence[str]]
    pred: Sequence[Sequence[str]]



def _plt():
    # matplotlib on first figure (a second of import), with the file-only backend unless the
    # caller chose one.
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    return plt


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
        if log and shown and min(float(s[1]) for s in shown) > 0 \
                and max(float(s[1]) for s in shown) / min(float(s[1]) for s in shown) > 100:
            # Only when values span orders of magnitude; the axis then starts at a decade.
            ax.set_xscale("log")
            ax.set_xlim(left=10 ** np.floor(np.log10(min(float(s[1]) for s in shown))))
        ax.set_xlim(right=ax.get_xlim()[1] * 1.25)
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
        # A class without test positives has no F1 (None in the JSON): a gap in the plot.
        f1 = [np.nan if row.get("f1") is None else row["f1"] for row in r.metrics["per_class"]]
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


# ECG paper: the conventions a printed 12-lead ECG is read by.
PAPER_SPEED = 25.0   # mm/s
PAPER_GAIN = 10.0    # mm/mV
STRIP_DPI = 150
"""Pixels per inch of ``strips.png`` (written into the PNG, so a print at 100 % measures right)."""
_MINOR, _MAJOR = 1.0, 5.0          # mm: the small and large squares
_CAL_MM = 10.0                     # left margin of each row holding the calibration pulse
_CAL_PULSE = (2.5, 7.5)            # its rising and falling edge (200 ms wide), mm
_MAX_EXCURSION = 30.0              # mm above/below the baseline a row makes room for
_PAPER = {"minor": "#f7c6c6", "major": "#e8868a", "trace": "black"}
_TITLE_MM, _GAP_MM, _SIDE_MM, _FOOT_MM = 8.0, 3.0, 5.0, 7.0


def _ceil5(mm: float) -> float:
    return _MAJOR * float(np.ceil(mm / _MAJOR - 1e-9))


def _rows(ecg_mm: np.ndarray) -> tuple[float, float]:
    """Height of the room above and below each row's baseline (mm, whole large squares).

    One layout for every strip and lead, so the rows line up; it fits the calibration pulse
    and the largest deflection up to ``_MAX_EXCURSION`` (a bigger one runs into the next
    row, as it would on paper).
    """
    up = float(np.max(ecg_mm, initial=0.0))
    down = float(-np.min(ecg_mm, initial=0.0))
    up = _ceil5(min(max(up, PAPER_GAIN) + 2.0, _MAX_EXCURSION))
    down = _ceil5(min(max(down, 2.0) + 1.0, _MAX_EXCURSION))
    return up, down


def strip_figure(strips: Strips):
    """The example strips on ECG paper, at true size.

    Each record is one sheet of paper: 25 mm/s across, 10 mm/mV up, a 1-mm minor and 5-mm
    major pink grid, one row per lead with its name and a 1-mV, 200-ms calibration pulse at
    the start, and the record's true and predicted labels above it (red when they differ).
    Axes coordinates are millimetres of paper and the figure is sized so one of them is one
    millimetre of the page at any DPI.

    Parameters
    ----------
    strips
        The windows (millivolts) and their labels.

    Returns
    -------
    matplotlib.figure.Figure
    """
    plt = _plt()
    ecg = np.asarray(strips.ecg, dtype=np.float64)
    n, t_len, n_leads = ecg.shape
    # The band-pass leaves no DC to speak of, but a window's baseline still wanders: each
    # lead is drawn about its median (an offset on the paper, not a change of scale).
    mm = (ecg - np.median(ecg, axis=1, keepdims=True)) * PAPER_GAIN
    up, down = _rows(mm)
    pitch = up + down
    width = _ceil5(_CAL_MM + t_len / strips.fs * PAPER_SPEED)
    height = pitch * n_leads
    fig_w = width + 2 * _SIDE_MM
    fig_h = n * (_TITLE_MM + height) + (n - 1) * _GAP_MM + _FOOT_MM
    fig = plt.figure(figsize=(fig_w / 25.4, fig_h / 25.4))
    x = _CAL_MM + np.arange(t_len) / strips.fs * PAPER_SPEED
    c0, c1 = _CAL_PULSE
    cal_x = np.array([0.0, c0, c0, c1, c1, _CAL_MM])
    cal_y = np.array([0.0, 0.0, 1.0, 1.0, 0.0, 0.0]) * PAPER_GAIN
    for k in range(n):
        top = fig_h - k * (_TITLE_MM + height + _GAP_MM) - _TITLE_MM
        ax = fig.add_axes((_SIDE_MM / fig_w, (top - height) / fig_h, width / fig_w, height / fig_h))
        ax.set_xlim(0, width)
        ax.set_ylim(0, height)
        ax.set_xticks(np.arange(0, width + 1e-9, _MAJOR))
        ax.set_xticks(np.arange(0, width + 1e-9, _MINOR), minor=True)
        ax.set_yticks(np.arange(0, height + 1e-9, _MAJOR))
        ax.set_yticks(np.arange(0, height + 1e-9, _MINOR), minor=True)
        ax.grid(which="minor", color=_PAPER["minor"], lw=0.4)
        ax.grid(which="major", color=_PAPER["major"], lw=0.8)
        ax.set_axisbelow(True)
        ax.tick_params(which="both", length=0, labelbottom=False, labelleft=False)
        for spine in ax.spines.values():
            spine.set_color(_PAPER["major"])
        for li, lead in enumerate(strips.leads):
            base = height - li * pitch - up
            ax.plot(cal_x, base + cal_y, color=_PAPER["trace"], lw=0.9, gid=f"calibration:{lead}")
            ax.plot(x, base + mm[k, :, li], color=_PAPER["trace"], lw=0.7, gid=f"lead:{lead}")
            ax.text(_CAL_MM + 1.0, base + PAPER_GAIN * 0.6, lead, fontsize=8, va="bottom",
                    fontweight="bold")
        true, pred = strips.true[k], strips.pred[k]
        ok = set(true) == set(pred)
        ax.set_title(f"{strips.names[k]}   true: {', '.join(true) or '—'}   "
                     f"predicted: {', '.join(pred) or '—'}", fontsize=9, loc="left",
                     color="black" if ok else "#b2182b", pad=3)
    fig.text(_SIDE_MM / fig_w, 2.0 / fig_h,
             f"{PAPER_SPEED:g} mm/s   {PAPER_GAIN:g} mm/mV   {strips.fs:g} Hz, band-passed as the "
             "model's input before normalisation; grid 1 mm / 5 mm (0.04 s, 0.1 mV / 0.2 s, 0.5 mV)",
             fontsize=7, color="#555555")
    return fig


def plot_strips(strips: Strips, path: Path) -> Path:
    """Draw :func:`strip_figure` into ``path`` at :data:`STRIP_DPI` (true size when printed)."""
    plt = _plt()
    fig = strip_figure(strips)
    fig.savefig(path, dpi=STRIP_DPI)
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
    if b.get("kd_gain_auroc_points") is not None:
        headline.append(f"- knowledge-distillation gain over the student alone: "
                        f"{b['kd_gain_auroc_points']:+.2f} macro-AUROC points")
    if b.get("kd_gain_pct") is not None:
        headline.append(f"- knowledge-distillation gain over the student alone: {b['kd_gain_pct']:+.2f} % (relative, challenge score)")
    if b.get("qat_drop_points") is not None:
        headline.append(f"- int8 vs float student: {b['qat_drop_points']:+.2f} challenge-score points (float − int8)")
    if b.get("latency_reduction_pct") is not None:
        headline.append(f"- latency reduction teacher → int8 student: {b['latency_reduction_pct']:.1f} %")
    par = b.get("parity") or {}
    if par.get("exact_tflm_ref") is not None:
        headline.append(f"- TFLM host runtime == LiteRT reference on {100 * par['exact_tflm_ref']:.1f} % of windows")
    if par.get("max_lsb_xnnpack_op") is not None:
        # XNNPACK is judged per kernel; its end-to-end difference compounds over the graph.
        headline.append(
            f"- XNNPACK vs reference: max {par['max_lsb_xnnpack_op']} LSB op by op "
            f"(at {par.get('xnnpack_op_worst')}), end to end max "
            f"{par.get('max_lsb_xnnpack')} LSB ("
            f"{100 * (par.get('xnnpack_within_1lsb') or 0):.1f} % of outputs within 1 LSB), "
            f"decisions agree {100 * (par.get('xnnpack_decision_agreement') or 0):.2f} %")
    if par.get("summary"):
        headline.append(f"- parity: {par['summary']}")
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


# --------------------------------------------------------------------------- build report
#: Long lists of the parity report that benchmark.json leaves in the parity stage's folder.
_PARITY_DETAIL = ("failures", "xnnpack_ops")


def _names(abbr: Sequence[str], row: np.ndarray) -> list[str]:
    return [a for a, on in zip(abbr, row) if on]


def _model_card(profile, prepared, splits, data_spec: str, by: dict[str, ModelResult],
                int8_side: dict, export: dict) -> dict:
    """``model_card.json``: what the model is, what it was trained on, how it scores."""
    student = by["student-kd"]
    return {
        "name": f"LRH-Net ({profile.student.variant}) on {','.join(student.leads)}",
        "version": __version__, "data": {"spec": data_spec, "cache_key": prepared.manifest.get("key"),
                                         "attribution": data_attribution(data_spec),
                                         "records": len(prepared),
                                         "splits": {k: int(len(v)) for k, v in splits.items()}},
        "leads": list(student.leads), "classes": list(prepared.classes.classes),
        "abbreviations": list(prepared.classes.abbreviations),
        "thresholds": [float(t) for t in int8_side["thresholds"]],
        "preprocessing": int8_side.get("preprocessing"),
        "metrics": {r.name: {"test": r.metrics, **({"val": r.val_metrics} if r.val_metrics else {})}
                    for r in by.values()},
        "footprint": export.get("footprint"), "tflite_sha256": export.get("sha256"),
        "kd": {"scheme": profile.kd.scheme, "loss": profile.kd.loss, "alpha": profile.kd.alpha,
               "temperature": profile.kd.temperature,
               "teacher_weights": list(profile.kd.teacher_weights)},
        "intended_use": ("Research and engineering demonstration of knowledge distillation and "
                         "microcontroller deployment. Not a medical device; "
                         + ("on the synthetic default the numbers say nothing about clinical "
                            "performance." if str(data_spec).startswith("synthetic") else
                            f"trained and scored on {data_attribution(data_spec)}: its test "
                            "split says how it does on that data, not on other populations, "
                            "devices or electrode placements.")),
    }


def _keras_result(name: str, summary: dict, prepared, ecg12: np.ndarray,
                  demo: np.ndarray) -> ModelResult:
    """A trained stage's model as the report shows it, scored as the stage scored it.

    The model is loaded only for a stage folder from before its sidecar carried ``macs`` or
    its predictions were saved.
    """
    model_dir = Path(summary["model_dir"])
    side = read_sidecar(model_dir)
    scored = model_dir.parent / PREDICTIONS_FILE
    model = None
    if not (scored.exists() and "macs" in side):
        model, side = load_model(model_dir)
    if scored.exists():  # the test probabilities the stage scored (its own windows)
        probs = load_predictions(scored)["test"]["probs"].astype(np.float64)
    else:
        idx = lead_indices(side["leads"], prepared.leads)
        probs = predict_probs(model, {"ecg": ecg12[..., idx], "demo": demo})
    params, macs = ((side["params"], side["macs"]) if model is None
                    else (count_params(model)["trainable"], count_macs(model)))
    hist = model_dir.parent / "train" / "history.csv"
    return ModelResult(name, tuple(side["leads"]), params, macs, side["metrics"]["test"], probs,
                       hist if hist.exists() else None, val_metrics=side["metrics"].get("val"))


#: Report name of each trained Keras model → the build stage that trained it.
_KERAS_STAGES = {"teacher-12": "teacher-12", "teacher-reduced": "teacher-reduced",
                 "student-none": "student-none", "student-kd": "student-kd"}


def _stage_results(stages: dict, prepared, ecg12: np.ndarray,
                   demo: np.ndarray) -> dict[str, ModelResult]:
    """Report name → :class:`ModelResult` for the four Keras models and the int8 student."""
    by = {name: _keras_result(name, stages[stage].summary, prepared, ecg12, demo)
          for name, stage in _KERAS_STAGES.items()}
    int8 = stages["int8"].summary
    lat = int8["latency_ms"]
    by["teacher-12"].latency_ms = lat.get("teacher_float")
    by["teacher-12"].tflite_bytes = int8.get("teacher_float_bytes")
    by["student-kd"].latency_ms = lat.get("student_float")
    by["student-kd"].tflite_bytes = int8.get("float_bytes")
    kd = by["student-kd"]
    by["student-int8"] = ModelResult("student-int8", kd.leads, kd.params, kd.macs,
                                     int8["test_metrics"], np.load(Path(int8["test_probs"])),
                                     None, lat.get("student_int8"), int8["tflite_bytes"])
    return by


def example_strips(prepared, test: np.ndarray, window: int, leads: Sequence[str],
                   pred: np.ndarray, n: int = 4) -> Strips:
    """The first ``n`` test records as :class:`Strips`: their evaluation windows in millivolts.

    Parameters
    ----------
    prepared
        The prepared data (its cache holds band-passed millivolts).
    test
        Test-split record indices.
    window
        Samples per window (the centre crop the model was scored on).
    leads
        The leads to draw (the student's).
    pred
        Decisions (test records × classes) shown as the predicted labels.

    Returns
    -------
    Strips
    """
    abbr = list(prepared.classes.abbreviations)
    pick = np.asarray(test)[:min(n, len(test))]
    # The same centre crops as the model's inputs, left in mV so the paper's 10 mm/mV is true.
    ecg, _, y = eval_windows(prepared, pick, window, leads=leads, normalise="none")
    return Strips(ecg[:, 0], tuple(leads), float(prepared.pre.fs),
                  [prepared.names[i] for i in pick],
                  [_names(abbr, row) for row in y.astype(bool)],
                  [_names(abbr, row) for row in np.asarray(pred)[:len(pick)]])


def make_build_report(out_dir: Path, *, opts, profile, prepared, splits, stages: dict,
                      stage_seconds: dict, machine: dict, data_spec: str) -> tuple[Path, dict]:
    """Collect a finished build's artefacts into the report and its JSON files.

    Parameters
    ----------
    out_dir
        ``OUT/report``.
    opts, profile
        The build options and resolved profile.
    prepared, splits
        The prepared data and its splits.
    stages
        Stage name → :class:`lrh_tflm.pipeline.stages.StageResult`.
    stage_seconds
        Stage name → seconds (0-ish for reused stages).
    machine
        Where it ran.
    data_spec
        The canonical data spec.

    Returns
    -------
    (Path, dict)
        ``report.md`` and the benchmark dict.
    """
    classes = list(prepared.classes.classes)
    abbr = list(prepared.classes.abbreviations)
    test = np.asarray(splits["test"])
    window = int(prepared.pre.window)
    ecg12, demo, y_test = eval_windows(prepared, test, window)
    y_test = y_test.astype(bool)
    by = _stage_results(stages, prepared, ecg12, demo)
    results = list(by.values())
    int8 = stages["int8"].summary
    qat = stages["qat"].summary
    lat = int8["latency_ms"]
    int8_side = read_json(Path(int8["int8"]).with_suffix(".json"))
    thresholds = np.asarray(int8_side["thresholds"], dtype=float)
    exp = stages["export"].summary
    par = stages["parity"].summary

    def metric(name, key):
        v = by[name].metrics.get(key)
        return None if v is None else float(v)

    kd, none = metric("student-kd", "score"), metric("student-none", "score")
    kd_gain = None if kd is None or not none else 100.0 * (kd - none) / abs(none)
    f_score, q_score = metric("student-kd", "score"), metric("student-int8", "score")
    bench = {
        "version": __version__, "created": time.strftime("%Y-%m-%d %H:%M:%S"),
        "profile": profile.name, "leads": ",".join(by["student-kd"].leads),
        "reduced_leads": ",".join(by["teacher-reduced"].leads), "kd": profile.kd.scheme,
        "kd_loss": profile.kd.loss, "student": profile.student.variant,
        "quantization": profile.quant.mode, "data": data_spec, "seed": opts.seed,
        "machine": machine,
        "params": {"teacher": by["teacher-12"].params, "assistant": by["teacher-reduced"].params,
                   "student": by["student-kd"].params},
        "param_ratio": by["teacher-12"].params / by["student-kd"].params,
        "macs": {"teacher": by["teacher-12"].macs, "assistant": by["teacher-reduced"].macs,
                 "student": by["student-kd"].macs},
        "tflite_bytes": int8["tflite_bytes"], "float_tflite_bytes": int8.get("float_bytes"),
        "arena_bytes": exp["arena_measured"], "arena_bytes_with_margin": exp["arena_bytes"],
        "latency_ms": lat,
        "latency_reduction_pct": 100.0 * (1 - lat["student_int8"] / lat["teacher_float"]),
        "score": {r.name: metric(r.name, "score") for r in results},
        "auroc": {r.name: metric(r.name, "auroc") for r in results},
        "score_name": int8_side.get("score_name", "challenge"),
        "kd_gain_pct": kd_gain,
        "kd_gain_auroc_points": (None if metric("student-kd", "auroc") is None
                                 or metric("student-none", "auroc") is None else
                                 100.0 * (metric("student-kd", "auroc")
                                          - metric("student-none", "auroc"))),
        "qat_drop_points": None if f_score is None or q_score is None else 100.0 * (f_score - q_score),
        "qat_model_score": qat.get("test_score"),
        # The parity stage's report as it wrote it (lrh_tflm.tflite.parity.ParityReport),
        # without its per-window failure and per-operator lists (those stay in parity/).
        "parity": {k: v for k, v in par.items() if k not in _PARITY_DETAIL},
        "test_records": int(len(test)), "classes": abbr,
        "stage_seconds": stage_seconds,
        # Measured on the emulated Cortex-M4F when the build ran with --emulate.
        "emulator": stages["emulate"].summary if "emulate" in stages else None,
    }
    strips = example_strips(prepared, test, window, by["student-kd"].leads,
                            by["student-int8"].probs >= thresholds)
    card = _model_card(profile, prepared, splits, data_spec, by, int8_side, exp)
    notes = [f"Data: `{data_spec}` ({data_attribution(data_spec)}) — {len(prepared)} records; "
             f"test split {len(test)} records "
             + (f"(centre windows of {window} samples at {prepared.pre.fs:g} Hz)."
                if profile.student_train.eval_hop is None else
                f"(mean over windows of {window} samples every {profile.student_train.eval_hop} "
                f"at {prepared.pre.fs:g} Hz)."),
             f"Profile `{profile.name}`, KD `{profile.kd.scheme}` ({profile.kd.loss}), student "
             f"`{profile.student.variant}`, quantisation `{profile.quant.mode}`."]
    if "emulate" in stages:
        notes.append("Firmware measured on the " + emulate_summary(stages["emulate"].summary)
                     + " (`--emulate`; QEMU counts instructions, the cycles per instruction "
                       "of a real Cortex-M4 with flash wait states are the stated range).")
    inputs = ReportInputs(title=f"lrh-tflm build report — {card['name']}", results=results,
                          y_test=y_test, classes=classes, abbreviations=abbr,
                          thresholds=thresholds.tolist(), benchmark=bench, model_card=card,
                          strips=strips, notes=notes)
    return write_report(out_dir, inputs), bench
