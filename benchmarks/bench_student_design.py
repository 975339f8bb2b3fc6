"""Student design sweep (issue 14): accuracy on PTB-XL against cost on the emulated Cortex-M4F.

For every candidate design of :data:`CANDIDATES` (``lrh-net-mcu`` and ``lrh-net-micro``
variations of one lever at a time: strided or pooled stem, separable convolutions, channel
widths in multiples of 4, kernel size, where the SE gates sit, the head), leads I and II:

1. ``student``: trained on PTB-XL (``ptbxl`` profile, official folds) with the profile's KD
   recipe from the 12-lead teacher (``--teacher``; ``--kd none`` trains on labels only);
2. ``qat``: quantisation-aware fine-tuning, distillation continuing;
3. ``int8``: the full-int8 flatbuffer (:func:`lrh_tflm.pipeline.recipes.convert_student`);
   fold-10 macro AUROC per task (thresholds for F1 tuned on fold 9) of the int8 model on
   LiteRT (XNNPACK kernels, within 2 LSB of the reference); TFLM == LiteRT-reference checked
   bit for bit on 16 test records; flatbuffer bytes and the TFLM arena of the exported
   firmware files;
4. ``default-window``: the same trained weights in the default profile's 1024-sample window at
   125 Hz (a conv net with global pooling takes any window), quantised post-training and run
   on the emulated board (QEMU mps2-an386, CMSIS-NN, -Os; its int8 outputs must equal the
   host TFLM's): the MACs, bytes, arena and instructions the issue's targets are
   stated at, and the real-time factor at the default 2-s hop (``4×`` = instructions ×
   cycles-per-instruction ≤ ¼ of the hop's cycles at 64 MHz, for the stated CPI range).

Every step is a resumable stage under ``--out``; ``results/student_design.json`` is rewritten
after each candidate, and the Pareto chart (fold-10 AUROC against instructions, marker area ∝
flash bytes) is written to ``results/student_design.png``.

The sweep trains each candidate with ``--epochs`` (default 3, learning-rate drop before the
last) and ``--qat-epochs`` (default 1): a fixed, smaller budget than the profile's 10 + 2, the
same for every candidate so their ranking is comparable.  The chosen design and the references
are then trained at the profile's full budget (``--epochs 10 --qat-epochs 2 --seed N``, with
``--kd none`` for the student alone, ``--results results/student_design_full.json``).

Run::

    python benchmarks/bench_student_design.py --data /data/ptb-xl \
        --teacher build/bench-ptbxl/teacher-12/model [--only 'micro-*'] [--readme README.md]
"""
from __future__ import annotations

import argparse
import fnmatch
import hashlib
import statistics
from dataclasses import asdict, replace
from pathlib import Path

import numpy as np
from bench_ptbxl import LABEL_SET, STUDENT_LEADS, TASKS, task_metrics

import lrh_tflm  # noqa: F401  (environment first, as everywhere in the project)
from lrh_tflm.config import StudentConfig, get_profile
from lrh_tflm.io import replace_marked

from _bench import RESULTS, load_results, machine, save_results

MICRO = "lrh-net-micro"


def micro(stem_stride: int, kernel: int, se_blocks: tuple[int, ...], *, separable: bool = False,
          stem_pool: int = 1, width: float = 1.0, dense: int = 64,
          pool: str = "avgpool") -> StudentConfig:
    """An ``lrh-net-micro`` design with every lever explicit (not the variant's defaults, which
    follow this sweep's choice: a run's key must not change when they do)."""
    return StudentConfig(variant=MICRO, width=width, kernel=kernel, dense=dense,
                         stem_stride=stem_stride, stem_pool=stem_pool, separable=separable,
                         se_blocks=se_blocks, pool=pool)


#: The candidates, in the order they run: the MCU baseline, the paper's LRH-Net (a
#: reference), then micro designs that move one
#: or two levers at a time (s = stem stride, pool = max-pool after the stem, k = kernel,
#: sep = depthwise-separable, se3 = SE in block 3 only, nose = no SE, w = width, h = head,
#: mean = MEAN time averages).
#: Every micro design averages over time with AVERAGE_POOL_2D: the same arithmetic as MEAN in
#: float, and 15× fewer instructions on the board (README, "Student design").
CANDIDATES: dict[str, StudentConfig] = {
    "mcu": StudentConfig(variant="lrh-net-mcu"),
    "paper": StudentConfig(variant="lrh-net"),
    "s4-sep-k8": micro(4, 8, (1, 2, 3), separable=True),
    "s2-sep-k8": micro(2, 8, (1, 2, 3), separable=True),
    "s2-sep-k8-mean": micro(2, 8, (1, 2, 3), separable=True, pool="mean"),
    "s4-k4-se3": micro(4, 4, (3,)),
    "s4-k5-se3": micro(4, 5, (3,)),
    "s2-k5-se3": micro(2, 5, (3,)),
    "s4-sep-k8-w1.5": micro(4, 8, (1, 2, 3), separable=True, width=1.5),
    "s4-sep-k8-se3": micro(4, 8, (3,), separable=True),
    "s2-pool2-sep-k8": micro(2, 8, (1, 2, 3), separable=True, stem_pool=2),
    "s4-sep-k5": micro(4, 5, (1, 2, 3), separable=True),
    "s4-sep-k8-h32": micro(4, 8, (1, 2, 3), separable=True, dense=32),
    "s2-k5-nose": micro(2, 5, ()),
    "s2-k8": micro(2, 8, (1, 2, 3)),
}
#: The default profile's window, rate and hop: where the issue states its targets.
DEFAULT = get_profile("default")
TARGETS = {"macs": 10e6, "flash_bytes": 64 * 1024, "arena_bytes": 48 * 1024, "realtime": 4.0,
           "auroc_points": 0.5}
PARITY_RECORDS = 16


def _sha(path: Path) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()[:16]


def _int8_predictions(tflite: Path, side: dict, prepared, splits: dict, hop: int) -> dict:
    """Val/test record probabilities of an int8 bundle (LiteRT), in load_predictions' layout."""
    from lrh_tflm.data.pipeline import eval_windows
    from lrh_tflm.infer import Predictor

    predictor = Predictor(tflite, side, runtime="litert")
    out = {}
    for split in ("val", "test"):
        ecg, demo, y = eval_windows(prepared, np.asarray(splits[split]), int(prepared.pre.window),
                                    tuple(side["leads"]), hop=hop)
        out[split] = {"probs": predictor.predict_records(ecg, demo), "y": y.astype(bool)}
    return out


def int8_stage(qat_dir: Path, prepared, splits: dict, profile, folder: Path, seed: int) -> dict:
    """Convert, score, check parity and export one trained design (arena on the host TFLM)."""
    from lrh_tflm.artifact import write_model_bundle
    from lrh_tflm.pipeline import recipes

    converted = recipes.convert_student(qat_dir, prepared, splits, profile=profile, seed=seed)
    tflite = write_model_bundle(converted.tflite, converted.sidecar, folder, "student_int8")
    pred = _int8_predictions(tflite, converted.sidecar, prepared, splits,
                             profile.student_train.eval_hop)
    tasks = task_metrics(pred, list(prepared.classes.classes))
    parity = recipes.parity_stage(converted, prepared, splits["test"][:PARITY_RECORDS])
    files = recipes.export_stage(tflite, converted.sidecar, folder / "firmware", profile=profile)
    return {"tasks": tasks, "tflite_bytes": len(converted.tflite), "ops": files.ops,
            "tflm_equals_reference": parity.exact_tflm_ref == 1.0,
            "parity": parity.summary(), "arena_used_bytes": files.arena_measured}


def default_window_stage(float_dir: Path, folder: Path, tflm_dir: Path | None,
                         seed: int) -> dict:
    """The trained float weights in the default window, int8 (PTQ), on the emulated board."""
    import tf_keras

    from lrh_tflm.artifact import config_from_dict, load_model, write_model_bundle
    from lrh_tflm.device.emulator import emulate_export
    from lrh_tflm.models import build_student
    from lrh_tflm.models.footprint import count_macs
    from lrh_tflm.pipeline import recipes
    from lrh_tflm.tflite.convert import check_ops, convert_int8

    tf_keras.backend.clear_session()
    trained, side = load_model(float_dir)
    window = int(DEFAULT.data.window)
    cfg = config_from_dict("student", side["model_config"])
    model = build_student(cfg, int(side["n_leads"]), window, int(side["n_classes"]))
    model.set_weights(trained.get_weights())
    # Calibration windows with the statistics of the normalised input (unit variance): the
    # figures wanted here are costs, which do not depend on the values.
    rng = np.random.default_rng(seed)
    ecg = rng.normal(size=(64, 1, window, int(side["n_leads"]))).astype(np.float32)
    demo = np.tile(np.asarray([[0.0, 0.0, 1.0, 0.0, 0.0]], np.float32), (64, 1))
    tflite = convert_int8(model, [(ecg[i:i + 1], demo[i:i + 1]) for i in range(len(ecg))])
    ops = check_ops(tflite)
    sidecar = {**side, "window": window, "fs": float(DEFAULT.data.fs), "qat": False}
    sidecar = recipes.bundle_sidecar(sidecar, mode="ptq", hop=DEFAULT.hop, ops=ops)
    path = write_model_bundle(tflite, sidecar, folder, "student_int8_default_window")
    prof = replace(DEFAULT, student=cfg)
    recipes.export_stage(path, sidecar, folder / "firmware", profile=prof)
    check = emulate_export(folder / "firmware", tflm_dir)
    return {"window": window, "fs": float(DEFAULT.data.fs), "hop": DEFAULT.hop,
            "macs": count_macs(model), "tflite_bytes": len(tflite),
            "arena_used_bytes": check["arena_used_bytes"],
            "instructions": check["instructions_median"],
            "per_op_instructions": check["per_op_instructions"], "hop_s": check["hop_s"],
            "cpi_range": check["cpi_range"], "clock_hz": check["clock_hz"],
            "flash_elf": check["elf"]["flash"], "emulator_identical": check["passed"]}


def realtime(instructions: float, hop_s: float, clock_hz: float, cpi: float) -> float:
    """How many times faster than real time: hop cycles / inference cycles."""
    return hop_s * clock_hz / (instructions * cpi) if instructions else float("nan")


def row(name: str, cfg: StudentConfig, params: int, macs: int, run: dict) -> dict:
    """A table row: the design, its PTB-XL figures and its costs at both windows."""
    i8, dw = run["int8"], run["default_window"]
    return {"name": name, "variant": cfg.variant, "design": cfg.design, "width": cfg.width,
            "params": params, "macs_ptbxl_window": macs, "macs": dw["macs"],
            "flash_bytes": dw["tflite_bytes"], "flash_bytes_ptbxl_window": i8["tflite_bytes"],
            "arena_bytes": dw["arena_used_bytes"], "arena_bytes_ptbxl_window": i8["arena_used_bytes"],
            "instructions": dw["instructions"], "per_op_instructions": dw["per_op_instructions"],
            "realtime_at_cpi": {str(cpi): realtime(dw["instructions"], dw["hop_s"],
                                                   dw["clock_hz"], cpi)
                                for cpi in dw["cpi_range"]},
            "auroc": {t: i8["tasks"][t]["test_auroc"] for t in TASKS},
            "float_auroc": {t: run["float"][t]["test_auroc"] for t in TASKS},
            "float_f1": {t: run["float"][t]["test_f1"] for t in TASKS},
            "f1": {t: i8["tasks"][t]["test_f1"] for t in TASKS},
            "val_auroc": {t: i8["tasks"][t]["val_auroc"] for t in TASKS},
            "tflm_equals_reference": i8["tflm_equals_reference"],
            "emulator_identical": dw["emulator_identical"],
            "seconds": run["seconds"]}


def markdown(rows: list[dict]) -> str:
    """The sweep table (targets at the default 1024-sample window)."""
    head = ("| design | params | MACs (1024) | flatbuffer (1024) | arena (1024) | instructions (1024) | "
            "× real time (CPI 2) | superdiag AUROC | rhythm AUROC |")
    lines = [head, "|" + "---|" * 9]
    for r in rows:
        rt = r["realtime_at_cpi"]
        lines.append(
            f"| {r['name']} | {r['params']:,} | {r['macs'] / 1e6:.2f} M | "
            f"{r['flash_bytes'] / 1024:.1f} KB | {r['arena_bytes'] / 1024:.1f} KB | "
            f"{r['instructions'] / 1e6:.1f} M | {rt[str(_cpi_high(r))]:.1f} | "
            f"{r['auroc']['superdiagnostic']:.3f} | {r['auroc']['rhythm']:.3f} |")
    return "\n".join(lines)


def pareto_chart(rows: list[dict], path: Path) -> Path:
    """Fold-10 AUROC against instructions per inference, marker area ∝ flash bytes."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, len(TASKS), figsize=(11, 4.2), sharex=True)
    for ax, task in zip(axes, TASKS):
        xs = [r["instructions"] / 1e6 for r in rows]
        ys = [r["auroc"][task] for r in rows]
        sizes = [r["flash_bytes"] / 300 for r in rows]
        ax.scatter(xs, ys, s=sizes, alpha=0.55, edgecolor="k")
        for r, x, y in zip(rows, xs, ys):
            ax.annotate(r["name"], (x, y), fontsize=7, xytext=(3, 3), textcoords="offset points")
        front = _front([(x, y) for x, y in zip(xs, ys)])
        ax.plot(*zip(*front), "r--", lw=1, label="Pareto front")
        ax.axvline(_insn_budget(rows[0]) / 1e6, color="g", lw=1, ls=":",
                   label=f"{TARGETS['realtime']:g}× real time at CPI {_cpi_high(rows[0]):g}")
        ax.set_xlabel("instructions per inference, 1024-sample window (M)")
        ax.set_ylabel(f"{task} fold-10 macro AUROC (int8)")
        ax.set_xscale("log")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7, loc="lower right")
    fig.suptitle("LRH-Net student designs on PTB-XL (leads I, II): accuracy vs Cortex-M4F cost "
                 "(marker area ∝ flash)", fontsize=10)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path


def _cpi_high(r: dict) -> float:
    return max(float(c) for c in r["realtime_at_cpi"])


def _insn_budget(r: dict) -> float:
    """Instructions per inference that leave the target real-time factor at the highest CPI."""
    return r["instructions"] * r["realtime_at_cpi"][str(_cpi_high(r))] / TARGETS["realtime"]


def _front(points: list[tuple[float, float]]) -> list[tuple[float, float]]:
    """Points no other point beats on both cost (lower) and accuracy (higher), by cost."""
    out, best = [], -np.inf
    for x, y in sorted(points):
        if y > best:
            out.append((x, y))
            best = y
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--data", type=Path, default=None, help="PTB-XL folder (unpacked)")
    ap.add_argument("--teacher", type=Path, default=Path("build/bench-ptbxl/teacher-12/model"),
                    help="saved 12-lead teacher (bench_ptbxl.py's teacher-12)")
    ap.add_argument("--out", type=Path, default=Path("build/bench-student-design"))
    ap.add_argument("--cache", type=Path, default=None, help="prepared-data cache folder")
    ap.add_argument("--only", default="*", help="glob on candidate names")
    ap.add_argument("--epochs", type=int, default=3)
    ap.add_argument("--qat-epochs", type=int, default=1)
    ap.add_argument("--kd", choices=("profile", "none"), default="profile")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--tflm-dir", type=Path, default=None, help="TFLM tree [CMSIS-NN]")
    ap.add_argument("--results", type=Path, default=RESULTS / "student_design.json")
    ap.add_argument("--readme", type=Path, default=None,
                    help="also write the table between README's <!-- student-design:start/end -->")
    ap.add_argument("--render", action="store_true", help="only render --results")
    ap.add_argument("--seeds-table", type=Path, default=None, metavar="PTBXL_JSON",
                    help="with --render: the per-seed summary beside lrh-net-mcu's runs in "
                         "PTBXL_JSON (bench_ptbxl.py's results), README marker student-seeds")
    args = ap.parse_args()
    results = load_results(args.results) or {}
    results.setdefault("runs", {})
    if not args.render:
        if args.data is None:
            ap.error("--data is required (the unpacked PTB-XL folder)")
        sweep(args, results)
    if args.seeds_table:
        render(results, args.results, args.readme, args.seeds_table, marker="student-seeds")
    else:
        render(results, args.results, args.readme)


def sweep(args, results: dict) -> None:
    """Train, convert and measure every selected candidate (resumable stages)."""
    from lrh_tflm.artifact import read_sidecar
    from lrh_tflm.data.cache import prepare
    from lrh_tflm.data.record import ProblemLog
    from lrh_tflm.data.sources import open_source
    from lrh_tflm.data.splits import split_indices
    from lrh_tflm.pipeline import recipes
    from lrh_tflm.pipeline.stages import StageRunner
    from lrh_tflm.train import (
        PREDICTIONS_FILE,
        distilled_train_config,
        load_predictions,
        train_stage,
    )

    from _bench import cache_dir

    base = get_profile("ptbxl")
    source = open_source(f"ptbxl:{args.data}", ptbxl_labels=LABEL_SET, ptbxl_rate=100,
                         progress=False)
    prepared = prepare(source, base.data, base.labels, Path(args.cache or cache_dir()) / "prepared",
                       problems=ProblemLog())
    splits = split_indices(prepared, base.split)
    classes = list(prepared.classes.classes)
    teachers = [] if args.kd == "none" else [args.teacher]
    teacher_key = _sha(args.teacher / "model.weights.h5") if teachers else None
    drop = max(1, args.epochs - 1)
    # The sweep's own budget (patience 4, as every candidate was trained), whatever the
    # profile's student schedule.
    student_train = replace(base.student_train, epochs=args.epochs, lr_drops=(drop,), patience=4)
    if teachers:
        student_train = distilled_train_config(student_train, base.kd)
    results.update({"profile": base.name, "label_set": LABEL_SET, "machine": machine(),
                    "budget": {"epochs": student_train.epochs, "qat_epochs": args.qat_epochs,
                               "kd": asdict(base.kd) if teachers else None,
                               "teacher": str(args.teacher) if teachers else None},
                    "targets": TARGETS})
    suffix = "" if teachers else "-nokd"

    def measure(name: str, cfg: StudentConfig) -> dict:
        prof = replace(base, student=cfg, student_train=student_train,
                       quant=replace(base.quant, qat_epochs=args.qat_epochs))
        runner = StageRunner(args.out / f"{name}{suffix}-s{args.seed}", print)
        common = {"data": prepared.manifest["key"], "seed": args.seed,
                  "student": asdict(cfg), "train": asdict(student_train),
                  "teacher": teacher_key, "kd": asdict(base.kd) if teachers else None}

        def train_fn(folder: Path, prof=prof):
            return train_stage("student", prepared, splits, leads=STUDENT_LEADS, profile=prof,
                               out_dir=folder, teachers=teachers,
                               teacher_weights=(1.0,) if teachers else None, seed=args.seed,
                               train_cfg=prof.student_train, verbose=2).summary()

        student = runner.run("student", common, train_fn)
        qat = runner.run("qat", {**common, "student_key": student.key, "quant": asdict(prof.quant)},
                         lambda folder, prof=prof, student=student: recipes.qat_stage(
                             Path(student.summary["model_dir"]), prepared, splits, profile=prof,
                             out_dir=folder, teachers=teachers,
                             teacher_weights=(1.0,) if teachers else None, seed=args.seed,
                             verbose=2).summary())
        int8 = runner.run("int8", {"qat": qat.key},
                          lambda folder, prof=prof, qat=qat: int8_stage(
                              Path(qat.summary["model_dir"]), prepared, splits, prof, folder,
                              args.seed))
        dw = runner.run("default-window", {"student": student.key, "tflm": str(args.tflm_dir)},
                        lambda folder, student=student: default_window_stage(
                            Path(student.summary["model_dir"]), folder, args.tflm_dir, args.seed))
        # The training stage's sidecar counted them on the trained model.
        side = read_sidecar(Path(student.summary["model_dir"]))
        return row(name + suffix, cfg, side["params"], side["macs"],
                   {"int8": int8.summary, "default_window": dw.summary,
                    "float": task_metrics(load_predictions(Path(student.folder) / PREDICTIONS_FILE),
                                          classes),
                    "seconds": round(sum(s.seconds for s in (student, qat, int8, dw)), 1)})

    for name, cfg in CANDIDATES.items():
        if not fnmatch.fnmatch(name, args.only):
            continue
        run = f"{name}{suffix}-s{args.seed}"
        try:
            results["runs"][run] = measure(name, cfg)
        except Exception as err:  # one failing design must not cost the others' runs
            print(f"[{name}] FAILED: {type(err).__name__}: {err}", flush=True)
            results.setdefault("failed", {})[run] = f"{type(err).__name__}: {err}"[:2000]
            save_results(args.results, results, show=False)
            continue
        results.get("failed", {}).pop(run, None)
        save_results(args.results, results, show=False)
        r = results["runs"][run]
        print(f"[{name}] {r['macs'] / 1e6:.2f} M MACs, {r['flash_bytes']:,} B, "
              f"{r['instructions'] / 1e6:.1f} M instructions (1024), AUROC "
              + ", ".join(f"{t} {r['auroc'][t]:.3f}" for t in TASKS), flush=True)


def _mean_std(values: list[float]) -> str:
    if len(values) == 1:
        return f"{values[0]:.3f}"
    return f"{statistics.mean(values):.3f} ± {statistics.stdev(values):.3f}"


def seeds_markdown(results: dict, reference: dict | None) -> str:
    """Per design and KD setting, fold-10 AUROC and F1 over seeds (float student and int8),
    beside ``lrh-net-mcu`` from ``bench_ptbxl.py``'s results (float students, same teacher
    and recipe, 10 epochs) when ``reference`` is given."""
    groups: dict[str, list[dict]] = {}
    for key, r in sorted(results.get("runs", {}).items()):
        groups.setdefault(key.rsplit("-s", 1)[0], []).append(r)
    head = ("| student (I, II) | seeds | superdiag. AUROC float / int8 | superdiag. F1 int8 | "
            "rhythm AUROC float / int8 | rhythm F1 int8 |")
    lines = [head, "|" + "---|" * 6]
    for name, rows in groups.items():
        cells = []
        for task in TASKS:
            cells.append(f"{_mean_std([r['float_auroc'][task] for r in rows])} / "
                         f"{_mean_std([r['auroc'][task] for r in rows])}")
            cells.append(_mean_std([r["f1"][task] for r in rows]))
        label = (f"{name.removesuffix('-nokd')} ({rows[0]['variant']})"
                 f"{' alone' if name.endswith('-nokd') else ' + KD'}")
        lines.append(f"| {label} | {len(rows)} | " + " | ".join(cells) + " |")
    for prefix, label in (("student-vanilla-bce-s", "lrh-net-mcu + KD (bench_ptbxl, earlier data)"),
                          ("student-none-s", "lrh-net-mcu alone (bench_ptbxl, earlier data)")):
        runs = [r for k, r in (reference or {}).get("runs", {}).items() if k.startswith(prefix)]
        if runs:
            cells = []
            for task in TASKS:
                cells.append(f"{_mean_std([r['tasks'][task]['test_auroc'] for r in runs])} / —")
                cells.append(f"{_mean_std([r['tasks'][task]['test_f1'] for r in runs])} (float)")
            lines.append(f"| {label} | {len(runs)} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def render(results: dict, path: Path, readme: Path | None, reference: Path | None = None,
           marker: str = "student-design") -> None:
    """Print the table (or, with ``reference``, the per-seed summary), draw the Pareto chart
    and optionally write the README block."""
    rows = [r for k, r in sorted(results.get("runs", {}).items()) if "-nokd" not in k]
    if not rows:
        print("no finished candidates yet")
        return
    if reference is not None:
        table = seeds_markdown(results, load_results(reference))
        print(table)
        if readme is not None:
            readme.write_text(replace_marked(readme.read_text(), marker, table))
        return
    table = markdown(rows)
    chart = pareto_chart(rows, Path(path).with_suffix(".png"))
    print(table)
    print(f"chart: {chart}")
    if readme is not None:
        readme.write_text(replace_marked(readme.read_text(), "student-design", table))


if __name__ == "__main__":
    main()
