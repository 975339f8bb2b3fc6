"""PTB-XL benchmark (issue 10): teachers, LRH-Net alone and LRH-Net with every KD scheme, on real ECGs.

Data: PTB-XL 1.0.3 at 100 Hz (Wagner et al. 2020, CC BY 4.0), official folds (1–8 train,
9 validation, 10 test), the ``ptbxl`` profile (2.5-s windows, seven per record averaged at
evaluation).  One model per run predicts the ``superdiagnostic+rhythm`` label set (5 + 12
statements); each task is scored on its own classes and on the records that carry at least
one of them, as the PTB-XL benchmark scores a task:

* macro AUROC (the benchmark's metric) on fold 10;
* macro F1 on fold 10 at per-class thresholds tuned on fold 9 (maximum F1 per class).

Runs (leads I, II for every student and the reduced-lead teacher):

``teacher-12``, ``teacher-I,II``
    SE-ResNet18 on labels (the profile's width).
``student-none-s{seed}``
    The student (``--student``, default ``lrh-net-mcu``, the variant this study was run on;
    the ``ptbxl`` profile's own is now ``lrh-net-micro``) on labels: the baseline of every KD
    gain.
``student-{scheme}-{recipe}-s{seed}``
    The student distilled with a scheme (``vanilla``, ``parallel``, ``sequential``) and a
    named recipe of :data:`lrh_tflm.config.KD_RECIPES`; ``sequential`` first distils the
    reduced-lead teacher (``assistant-{recipe}``) from the 12-lead one with the same recipe.

Phases: ``base`` (teachers, student alone seed 0), ``study`` (the recipe study: the
student's (scheme, recipe) pairs of :data:`STUDIES`, judged on fold 9 ONLY — the study never
reads fold 10), ``table`` (the fold-10 table: every scheme with the paper's recipe and with
``--best``, and ``--seeds`` seeds of the student alone and of the best scheme).  ``--best
auto`` runs the study first and takes its best pair by :func:`study_criterion`.  A patient
recipe (more epochs) is also compared with the student alone trained as long
(``student-none-e{N}``).

Every run is a resumable stage under ``--out`` (``stage.json`` when finished, Keras
``BackupAndRestore`` inside), and ``results/ptbxl.json`` is rewritten after every run, so an
interrupted benchmark continues where it stopped.

Run::

    python3 ../shared/data/ptb-xl/unpack.py /data/ptb-xl
    python benchmarks/bench_ptbxl.py --data /data/ptb-xl --phase base study
    python benchmarks/bench_ptbxl.py --data /data/ptb-xl --phase table --best NAME --seeds 3

What the README's LRH-Net-Micro table ran (the teachers and the student alone adopted from
the ``ptbxl`` build that made the firmware model), when the profile's students trained 10
epochs (before commit "ptbxl profile: students train 20 epochs"); run again on today's
profile it retrains every student on the 20-epoch schedule, where ``bce-patient`` is ``bce``::

    python benchmarks/bench_ptbxl.py --data /data/ptb-xl --student lrh-net-micro \
        --results benchmarks/results/ptbxl-micro.json --adopt build/ptbxl \
        --phase base study table --best auto --seeds 3 --readme README.md --marker ptbxl-micro
"""
from __future__ import annotations

import argparse
import fnmatch
import statistics
import time
from dataclasses import asdict, dataclass, replace
from pathlib import Path

import numpy as np

import lrh_tflm  # noqa: F401  (environment first, as everywhere in the project)
from lrh_tflm import metrics as M
from lrh_tflm.config import KD_RECIPES, STUDENT_VARIANTS, StudentConfig, get_profile
from lrh_tflm.distill import DistillStep, distill_schedule
from lrh_tflm.io import read_json, replace_marked, to_jsonable
from lrh_tflm.leads import LEADS
from lrh_tflm.pipeline.recipes import walk_schedule
from lrh_tflm.pipeline.stages import STAGE_FILE

from _bench import RESULTS, load_results, machine, save_results

STUDENT_LEADS = ("I", "II")
SCHEMES = ("vanilla", "parallel", "sequential")
LABEL_SET = "superdiagnostic+rhythm"
TASKS = {"superdiagnostic": ("NORM", "MI", "STTC", "CD", "HYP"),
         "rhythm": ("SR", "AFIB", "STACH", "SARRH", "SBRAD", "PACE", "SVARR", "BIGU", "AFLT",
                    "SVTAC", "PSVT", "TRIGU")}
#: The (scheme, recipe) pairs the study compares (recipes in KD_RECIPES), always on fold 9,
#: per student variant.  ``lrh-net-mcu`` (the first study): the three losses with one teacher,
#: then logit matching with an ensemble of the 12-lead and the I,II teacher and with a
#: patient schedule.  The later students: the three losses, then one change at a time to the
#: ``bce`` recipe (α, T, T² scaling, teacher weights, an ensemble teacher, a patient schedule).
STUDIES = {
    "lrh-net-mcu": (("vanilla", "mse"), ("vanilla", "paper"), ("parallel", "mse-ensemble"),
                    ("vanilla", "bce"), ("vanilla", "mse-patient")),
    None: (("vanilla", "paper"), ("vanilla", "bce"), ("vanilla", "mse"),
           ("vanilla", "bce-alpha0.2"), ("vanilla", "bce-alpha0.8"), ("vanilla", "bce-t4"),
           ("vanilla", "bce-t4-tsq"), ("parallel", "bce"), ("parallel", "bce-w0.7"),
           ("parallel", "bce-ensemble"), ("vanilla", "bce-patient")),
}


def study(student: str) -> tuple[tuple[str, str], ...]:
    """The (scheme, recipe) pairs of the recipe study of ``student``."""
    return STUDIES.get(student, STUDIES[None])


#: PTB-XL benchmark, 12 leads at 100 Hz, fold-10 macro AUROC of its best model per task
#: (Strodthoff et al., IEEE JBHI 2021), quoted beside our figures.
REFERENCE_AUROC = {"superdiagnostic": 0.930, "rhythm": 0.957}


@dataclass(frozen=True)
class Run:
    """One training run of the benchmark."""

    name: str
    role: str
    leads: tuple[str, ...]
    teachers: tuple[str, ...] = ()
    weights: tuple[float, ...] | None = None
    recipe: str | None = None
    seed: int = 0
    epochs: int | None = None
    """Epochs of a label-trained student: the same-length baseline of a patient recipe
    (``None``: the profile's)."""


def patient_epochs(recipe: str | None) -> int | None:
    """The epochs of a patient recipe (``KDConfig.epochs``), ``None`` for the others."""
    return KD_RECIPES[recipe].epochs if recipe in KD_RECIPES else None


def plan(phases: list[str], best: str | None, seeds: int,
         student_variant: str = "lrh-net-mcu") -> list[Run]:
    """The runs of the chosen phases, teachers before the students they teach."""
    runs: dict[str, Run] = {}

    def add(run: Run) -> None:
        runs.setdefault(run.name, run)

    def student(scheme: str, recipe: str, seed: int) -> None:
        # The scheme's steps as the build walks them; the sequential scheme's distilled
        # assistant is trained once per recipe (seed 0) and shared by every seed's student.
        names = {"assistant": f"assistant-{recipe}", "student": f"student-{scheme}-{recipe}-s{seed}"}

        def step(s: DistillStep, teachers: list[str]) -> str:
            add(Run(names[s.target], s.target, STUDENT_LEADS, tuple(teachers), s.weights, recipe,
                    seed if s.target == "student" else 0))
            return names[s.target]

        walk_schedule(distill_schedule(scheme, KD_RECIPES[recipe].teacher_weights), step,
                      {"teacher": "teacher-12", "assistant": "teacher-I,II"})

    add(Run("teacher-12", "teacher", LEADS))
    add(Run("teacher-I,II", "assistant", STUDENT_LEADS))
    add(Run("student-none-s0", "student", STUDENT_LEADS))

    def alone(seed: int, epochs: int | None) -> None:
        # A patient recipe trains longer: the student alone is trained as long too, so its
        # KD gain is not the gain of the extra epochs.
        if epochs:
            add(Run(f"student-none-e{epochs}-s{seed}", "student", STUDENT_LEADS, seed=seed,
                    epochs=epochs))

    if "study" in phases:
        for scheme, recipe in study(student_variant):
            student(scheme, recipe, 0)
            alone(0, patient_epochs(recipe))
    if "table" in phases:
        if best is None:
            raise SystemExit("--phase table needs --best RECIPE (chosen by the study on fold 9)")
        best_recipe, _, best_scheme = best.partition(":")
        # Seeds first (the mean ± std the KD gain is judged on), then every scheme per recipe.
        for seed in range(seeds):
            add(Run(f"student-none-s{seed}", "student", STUDENT_LEADS, seed=seed))
            alone(seed, patient_epochs(best_recipe))
            student(best_scheme or "parallel", best_recipe, seed)
        for scheme in SCHEMES:
            for recipe in dict.fromkeys(("paper", best_recipe)):
                student(scheme, recipe, 0)
    return list(runs.values())


def run_key(run: Run, profile, train_cfg, data_key: str, teacher_keys: list[str]) -> dict:
    """What identifies a run's stage: reused only while all of it is unchanged."""
    # ``epochs`` enters the key only when set, so the runs keyed before it existed are reused.
    fields = {k: v for k, v in asdict(run).items() if k != "epochs" or v is not None}
    return {"run": fields, "data": data_key,
            "model": asdict(profile.student if run.role == "student" else profile.teacher),
            "train": asdict(train_cfg), "kd": asdict(profile.kd) if run.teachers else None,
            "teachers": teacher_keys}


def task_columns(task: str, classes: list[str]) -> list[int]:
    """Indices in ``classes`` of the task's statements (those the label space has)."""
    return [classes.index(c) for c in TASKS[task] if c in classes]


def task_subset(y, probs, cols: list[int]):
    """The records that carry a label of the task (how the PTB-XL benchmark scores a task),
    restricted to its columns: ``(y, probs)``."""
    y = np.asarray(y)[:, cols].astype(bool)
    keep = y.any(axis=1)
    return y[keep], np.asarray(probs)[keep][:, cols]


def task_metrics(pred: dict, classes: list[str]) -> dict:
    """Per task: fold-9 and fold-10 macro AUROC, fold-10 macro F1 at fold-9 thresholds."""
    out = {}
    for task in TASKS:
        cols = task_columns(task, classes)
        yv, pv = task_subset(pred["val"]["y"], pred["val"]["probs"], cols)
        yt, pt = task_subset(pred["test"]["y"], pred["test"]["probs"], cols)
        names_kept = [classes[c] for c in cols]
        thr = M.tune_thresholds(yv, pv, names_kept)
        out[task] = {"val_auroc": M.macro_auroc(yv, pv).value,
                     "test_auroc": M.macro_auroc(yt, pt).value,
                     "val_f1": M.macro_f1(yv, pv >= thr).value,
                     "test_f1": M.macro_f1(yt, pt >= thr).value,
                     "test_auroc_per_class": {n: M.auroc(yt[:, j], pt[:, j])
                                              for j, n in enumerate(names_kept)},
                     "test_f1_per_class": {n: M.f1(yt[:, j], pt[:, j] >= thr[j])
                                           for j, n in enumerate(names_kept)},
                     "thresholds": [float(t) for t in thr],
                     "records": {"val": int(len(yv)), "test": int(len(yt))}}
    return out


def summarise(results: dict, best: str | None) -> dict:
    """Mean ± std over seeds per configuration, and the KD gains over the student alone."""
    groups: dict[str, list[dict]] = {}
    for name, r in results["runs"].items():
        groups.setdefault(name.rsplit("-s", 1)[0] if name.startswith("student-") else name,
                          []).append(r)
    table = {}
    for config, rs in groups.items():
        row = {"seeds": len(rs), "params": rs[0].get("params")}
        for task in TASKS:
            for metric in ("test_auroc", "test_f1", "val_auroc", "val_f1"):
                vals = [r["tasks"][task][metric] for r in rs]
                row[f"{task}/{metric}"] = statistics.fmean(vals)
                row[f"{task}/{metric}_std"] = statistics.stdev(vals) if len(vals) > 1 else 0.0
        table[config] = row
    gains, same = {}, {}
    base = table.get("student-none")
    for config, row in table.items():
        if not config.startswith("student-") or config == "student-none":
            continue
        if base:
            gains[config] = _gain(row, base)
        epochs = patient_epochs(config.split("-", 2)[2])
        if epochs and f"student-none-e{epochs}" in table:
            same[config] = _gain(row, table[f"student-none-e{epochs}"])
    return {"table": table, "gains": gains, "gains_same_epochs": same, "best": best,
            "gain_units": "AUROC: points (x100 difference); F1: relative %"}


def _gain(row: dict, base: dict) -> dict:
    """``row`` against ``base``: AUROC in points, F1 relative (%), per task and split."""
    return {f"{task}/{m}": (100 * (row[f"{task}/{m}"] - base[f"{task}/{m}"])
                            if m.endswith("auroc") else
                            100 * (row[f"{task}/{m}"] / base[f"{task}/{m}"] - 1))
            for task in TASKS for m in ("val_auroc", "test_auroc", "val_f1", "test_f1")}


#: The student variant of the results files written before ``--student`` existed.
STUDENT = "lrh-net-mcu"
#: Table rows, in order: configuration → what it is.
ROW_NAMES = {"teacher-12": "SE-ResNet18 teacher, 12 leads",
             "teacher-I,II": "SE-ResNet18 teacher, leads I, II",
             "student-none": "{student} alone (I, II)"}


def student_name(variant: str) -> str:
    """``lrh-net-mcu`` → ``LRH-Net-MCU`` (the table's spelling)."""
    return "LRH-Net" + variant[len("lrh-net"):].title().replace("-Mcu", "-MCU")


def _row_name(config: str, student: str = STUDENT) -> str:
    if config in ROW_NAMES:
        return ROW_NAMES[config].format(student=student_name(student))
    if config.startswith("assistant-"):
        return f"I,II teacher distilled from the 12-lead one ({config[10:]} recipe)"
    if config.startswith("student-none-e"):
        return f"{student_name(student)} alone (I, II), {config[14:]} epochs"
    _, scheme, recipe = config.split("-", 2)
    return f"{student_name(student)} + {scheme} KD, `{recipe}` recipe"


def markdown(summary: dict, student: str = STUDENT) -> str:
    """The fold-10 table as markdown (mean ± std where there are several seeds)."""
    lines = ["| model | params | seeds | superdiag. AUROC | superdiag. F1 | rhythm AUROC | rhythm F1 |",
             "|---|---|---|---|---|---|---|"]
    table = summary["table"]
    order = ([c for c in ROW_NAMES if c in table]
             + sorted(c for c in table if c not in ROW_NAMES and not c.startswith("assistant-")))
    for config in order:
        row = table[config]
        cells = []
        for task in TASKS:
            for m in ("test_auroc", "test_f1"):
                v, s = row[f"{task}/{m}"], row[f"{task}/{m}_std"]
                cells.append(f"{v:.3f} ± {s:.3f}" if row["seeds"] > 1 else f"{v:.3f}")
        params = "—" if row.get("params") is None else f"{row['params']:,}"
        lines.append(f"| {_row_name(config, student)} | {params} | {row['seeds']} | "
                     + " | ".join(cells) + " |")
    ref = " | ".join(f"{REFERENCE_AUROC[t]:.3f} | —" for t in TASKS)
    lines.append(f"| PTB-XL benchmark's best model, 12 leads (Strodthoff et al. 2021) | — | — | {ref} |")
    gains = summary.get("gains", {})
    if gains:
        lines += ["", "Gain over the student alone (its first row) on fold 10, AUROC in points, F1 "
                  "relative:", ""]
        for config in order:
            if config in gains:
                g = gains[config]
                lines.append(f"- {_row_name(config, student)}: superdiagnostic "
                             f"{g['superdiagnostic/test_auroc']:+.2f} AUROC points, "
                             f"{g['superdiagnostic/test_f1']:+.1f} % F1; rhythm "
                             f"{g['rhythm/test_auroc']:+.2f} points, {g['rhythm/test_f1']:+.1f} % F1"
                             + _same_epochs(summary, config))
    checked = goals(summary)
    if checked:
        lines += ["", f"The best recipe of the fold-9 study (`{summary['best']}`) against the goals "
                  f"(≥ {GOALS['auroc_points']:.1f} AUROC point and ≥ {GOALS['f1_pct']:.0f} % F1 over "
                  f"the student alone, ≤ {GOALS['teacher_gap_points']:.1f} point below the I,II "
                  "teacher; fold 10, mean of seeds):", "", *checked]
    return "\n".join(lines)


#: Issue 10's goals for the best KD student against the student alone (fold 10, mean of
#: seeds): AUROC points gained, relative F1 gained (%), and the largest AUROC gap to the I,II
#: teacher.
GOALS = {"auroc_points": 1.0, "f1_pct": 3.0, "teacher_gap_points": 1.0}


def _met(ok: bool) -> str:
    return "met" if ok else "not met"


def _same_epochs(summary: dict, config: str) -> str:
    """A patient row's gain over the student alone trained as long (empty for the others)."""
    g = summary.get("gains_same_epochs", {}).get(config)
    if g is None:
        return ""
    return (f" (against the student alone trained as long, "
            f"{patient_epochs(config.split('-', 2)[2])} epochs: superdiagnostic "
            f"{g['superdiagnostic/test_auroc']:+.2f} points, {g['superdiagnostic/test_f1']:+.1f} % F1; "
            f"rhythm {g['rhythm/test_auroc']:+.2f} points, {g['rhythm/test_f1']:+.1f} % F1)")


def goals(summary: dict) -> list[str]:
    """One line per task: the best KD student's gains against :data:`GOALS`."""
    best = summary.get("best")
    if not best:
        return []
    recipe, _, scheme = best.partition(":")
    config = f"student-{scheme or 'parallel'}-{recipe}"
    table, gain = summary["table"], summary["gains"].get(config)
    if gain is None or "teacher-I,II" not in table:
        return []
    row, teacher = table[config], table["teacher-I,II"]
    lines = []
    for task in TASKS:
        da, df = gain[f"{task}/test_auroc"], gain[f"{task}/test_f1"]
        gap = 100 * (teacher[f"{task}/test_auroc"] - row[f"{task}/test_auroc"])
        lines.append(f"- {task}: {da:+.2f} AUROC points ({_met(da >= GOALS['auroc_points'])}), "
                     f"{df:+.1f} % F1 ({_met(df >= GOALS['f1_pct'])}), "
                     f"{abs(gap):.2f} points {'below' if gap > 0 else 'above'} the I,II teacher "
                     f"({_met(gap <= GOALS['teacher_gap_points'])}); {row['seeds']} seeds against "
                     f"{table['student-none']['seeds']}" + _same_epochs_goal(summary, config, task))
    return lines


def _same_epochs_goal(summary: dict, config: str, task: str) -> str:
    g = summary.get("gains_same_epochs", {}).get(config)
    if g is None:
        return ""
    da, df = g[f"{task}/test_auroc"], g[f"{task}/test_f1"]
    return (f"; against the student alone trained as long: {da:+.2f} points "
            f"({_met(da >= GOALS['auroc_points'])}), {df:+.1f} % F1 ({_met(df >= GOALS['f1_pct'])})")


def study_markdown(results: dict) -> str:
    """The recipe study: fold-9 (validation) figures only, the selection criterion first."""
    lines = ["| student (I, II), seed 0 | fold-9 mean of the two tasks' macro AUROC | "
             "superdiag. AUROC | superdiag. F1 | rhythm AUROC | rhythm F1 |",
             "|---|---|---|---|---|---|"]
    for name, r in results["runs"].items():
        if not name.startswith("student-") or not name.endswith("-s0"):
            continue
        t = r["tasks"]
        lines.append(f"| {_row_name(name[:-3], results.get('student', STUDENT))} | "
                     f"{study_criterion(t):.4f} | "
                     + " | ".join(f"{t[task][m]:.3f}" for task in TASKS
                                  for m in ("val_auroc", "val_f1")) + " |")
    return "\n".join(lines)


def study_criterion(tasks: dict) -> float:
    """The study's selection criterion: the fold-9 mean of the two tasks' macro AUROC."""
    return statistics.fmean(tasks[t]["val_auroc"] for t in TASKS)


def choose_best(results: dict, student: str) -> str:
    """``RECIPE:SCHEME`` of the study's best distilled student by :func:`study_criterion`
    (fold 9 only; the student alone is the baseline, not a candidate)."""
    scored = {(scheme, recipe): study_criterion(results["runs"][f"student-{scheme}-{recipe}-s0"]["tasks"])
              for scheme, recipe in study(student)
              if f"student-{scheme}-{recipe}-s0" in results["runs"]}
    if not scored:
        raise SystemExit("--best auto: no study run has finished; run --phase study first")
    scheme, recipe = max(scored, key=scored.get)
    return f"{recipe}:{scheme}"


#: Runs a build trains exactly as this benchmark does (labels only, seed 0): the build's
#: stage folder of each, for ``--adopt``.
ADOPTABLE = {"teacher-12": "teacher-12", "teacher-I,II": "teacher-reduced",
             "student-none-s0": "student-none"}


def adoptable(build: Path, run: Run, profile, train_cfg, data_key: str) -> Path | None:
    """The finished stage folder of ``build`` that trained ``run`` exactly as this benchmark
    would (same prepared data, profile, model, training config, leads and seed; labels
    only), or ``None``."""
    if run.name not in ADOPTABLE or run.teachers:
        return None
    folder = Path(build) / ADOPTABLE[run.name]
    try:
        material = read_json(folder / STAGE_FILE)["material"]
    except (OSError, ValueError, KeyError):
        return None
    model = profile.student if run.role == "student" else profile.teacher
    want = {"data": data_key, "profile": profile.name, "role": run.role,
            "leads": list(run.leads), "seed": run.seed, "model": asdict(model),
            "train": asdict(train_cfg), "teachers": [], "kd": None}
    got = {"data": material.get("data", {}).get("cache"),
           **{k: material.get(k) for k in want if k != "data"}}
    return folder if to_jsonable(got) == to_jsonable(want) else None


def render(results: dict, readme: Path | None, marker: str = "ptbxl") -> None:
    """Print (and write into README's ``marker`` and ``marker-study`` blocks) the fold-10
    table and the fold-9 study."""
    table = markdown(results["summary"], results.get("student", STUDENT))
    fold9 = study_markdown(results)
    print(table, "\n", fold9, sep="\n")
    if readme is not None:
        text = replace_marked(readme.read_text(), marker, table)
        readme.write_text(replace_marked(text, f"{marker}-study", fold9))
        print(f"updated {readme}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--data", type=Path, default=None, help="PTB-XL folder (unpacked)")
    ap.add_argument("--out", type=Path, default=Path("build/bench-ptbxl"), help="run folders")
    ap.add_argument("--cache", type=Path, default=None, help="prepared-data cache folder")
    ap.add_argument("--phase", nargs="+", default=["base"], choices=("base", "study", "table"))
    ap.add_argument("--best", default=None,
                    help="RECIPE or RECIPE:SCHEME chosen by the study (for --phase table); "
                         "'auto': the study's best by the fold-9 criterion")
    ap.add_argument("--adopt", type=Path, default=None,
                    help="a build folder whose teachers and student alone were trained exactly "
                         "as here (checked): copied instead of trained again")
    ap.add_argument("--marker", default="ptbxl",
                    help="README block names (MARKER and MARKER-study) for --readme")
    ap.add_argument("--seeds", type=int, default=3)
    ap.add_argument("--only", default="*", help="glob on run names")
    ap.add_argument("--profile", default="ptbxl")
    ap.add_argument("--student", default=STUDENT, choices=STUDENT_VARIANTS,
                    help="the student variant of every student run (one per results file)")
    ap.add_argument("--results", type=Path, default=RESULTS / "ptbxl.json")
    ap.add_argument("--readme", type=Path, default=None,
                    help="also write the table between README's <!-- ptbxl:start/end --> markers")
    ap.add_argument("--render", action="store_true",
                    help="only print (and with --readme write) the tables of --results")
    args = ap.parse_args()
    if args.render:
        results = load_results(args.results)
        results["summary"] = summarise(results, results.get("summary", {}).get("best", args.best)
                                       if args.best == "auto" else args.best)
        render(results, args.readme, args.marker)
        return
    if args.data is None:
        ap.error("--data is required (the unpacked PTB-XL folder)")

    from lrh_tflm.data.cache import prepare
    from lrh_tflm.data.record import ProblemLog
    from lrh_tflm.data.sources import open_source
    from lrh_tflm.data.splits import split_indices
    from lrh_tflm.pipeline.stages import StageRunner
    from lrh_tflm.train import (
        PREDICTIONS_FILE,
        distilled_train_config,
        load_predictions,
        stretched_train_config,
        train_stage,
    )

    from _bench import cache_dir

    profile = replace(get_profile(args.profile), student=StudentConfig(variant=args.student))
    t0 = time.perf_counter()
    source = open_source(f"ptbxl:{args.data}", ptbxl_labels=LABEL_SET, ptbxl_rate=100,
                         progress=False)
    problems = ProblemLog()
    cache = Path(args.cache or cache_dir()) / "prepared"
    prepared = prepare(source, profile.data, profile.labels, cache, problems=problems)
    splits = split_indices(prepared, profile.split)
    classes = list(prepared.classes.classes)
    print(f"{len(prepared)} records ({len(problems)} skipped), "
          f"{'/'.join(str(len(splits[k])) for k in ('train', 'val', 'test'))} train/val/test, "
          f"{len(classes)} classes, prepared in {time.perf_counter() - t0:.0f} s")

    results = load_results(args.results) or {}
    results.setdefault("runs", {})
    if results["runs"] and results.get("student", STUDENT) != args.student:
        ap.error(f"{args.results} holds {results.get('student', STUDENT)} runs; give "
                 f"--results another file for --student {args.student}")
    results.update({"profile": args.profile, "student": args.student, "label_set": LABEL_SET, "machine": machine(),
                    "data": {"records": len(prepared), "skipped": len(problems),
                             "splits": {k: len(v) for k, v in splits.items()},
                             "classes": classes}})
    runner = StageRunner(args.out, print)
    done: dict[str, object] = {}

    def execute(runs: list[Run], best: str | None, show_test: bool) -> None:
        for run in runs:
            if not fnmatch.fnmatch(run.name, args.only):
                continue
            done[run.name] = train(run)
            record(run, done[run.name], best, show_test)

    def train(run: Run):
        prof = replace(profile, kd=KD_RECIPES[run.recipe]) if run.recipe else profile
        train_cfg = prof.student_train if run.role == "student" else prof.teacher_train
        if run.epochs:
            train_cfg = stretched_train_config(train_cfg, run.epochs)
        if run.teachers:
            # A distilled assistant trains on the students' crop grid too, so its teacher's
            # logits are computed once (the label-trained teachers keep continuous crops).
            train_cfg = distilled_train_config(
                replace(train_cfg, crop_step=prof.student_train.crop_step), prof.kd)
        teacher_dirs = [Path(done[t].summary["model_dir"]) for t in run.teachers]
        key = run_key(run, prof, train_cfg, prepared.manifest["key"],
                      [done[t].key for t in run.teachers])
        source = (adoptable(args.adopt, run, prof, train_cfg, prepared.manifest["key"])
                  if args.adopt else None)

        def fn(folder: Path) -> dict:
            if source is not None:
                return adopt(source, folder)
            trained = train_stage(run.role, prepared, splits, leads=run.leads, profile=prof,
                                  out_dir=folder, teachers=teacher_dirs,
                                  teacher_weights=run.weights, seed=run.seed,
                                  train_cfg=train_cfg, verbose=2)
            return trained.summary()

        # The stage line shows fold-9 figures only: the study must not read fold 10.
        return runner.run(run.name, key, fn,
                          lambda sm: (f"val AUROC {sm.get('val_auroc', float('nan')):.3f}, "
                                      f"{sm.get('epochs')} epochs"))

    def record(run: Run, stage, best: str | None, show_test: bool) -> None:
        pred = load_predictions(Path(stage.folder) / PREDICTIONS_FILE)
        results["runs"][run.name] = {
            "params": stage.summary.get("params"), "epochs": stage.summary.get("epochs"),
            "best_epoch": stage.summary.get("best_epoch"),
            "seconds": round(float(stage.summary.get("seconds", 0.0)), 1),
            "recipe": run.recipe, "seed": run.seed, "teachers": list(run.teachers),
            **({"adopted_from": stage.summary["adopted_from"]}
               if "adopted_from" in stage.summary else {}),
            "tasks": task_metrics(pred, classes)}
        results["summary"] = summarise(results, best)
        save_results(args.results, results, show=False)
        r = results["runs"][run.name]["tasks"]
        print(f"[{run.name}] " + ", ".join(
            f"{t}: val AUROC {r[t]['val_auroc']:.3f} F1 {r[t]['val_f1']:.3f}"
            + ("" if not show_test else
               f" | test AUROC {r[t]['test_auroc']:.3f} F1 {r[t]['test_f1']:.3f}")
            for t in TASKS), flush=True)

    best = args.best
    if best == "auto":
        # The study first, then the table of the recipe it chose on fold 9.
        execute(plan([p for p in args.phase if p != "table"] + ["study"], None, args.seeds,
                     args.student), None, show_test=False)
        best = choose_best(results, args.student)
        print(f"the study's best on fold 9: {best}", flush=True)
    execute(plan(args.phase, best, args.seeds, args.student), best, "table" in args.phase)
    results["summary"] = summarise(results, best)
    save_results(args.results, results, show=False)
    if "table" in args.phase:
        render(results, args.readme, args.marker)


def adopt(source: Path, folder: Path) -> dict:
    """Copy a build's finished training stage (its model and predictions) into ``folder``;
    its summary, with the copy's model folder and where it came from."""
    import shutil

    from lrh_tflm.train import PREDICTIONS_FILE

    meta = read_json(source / STAGE_FILE)
    shutil.copytree(source / "model", folder / "model", dirs_exist_ok=True)
    shutil.copy2(source / PREDICTIONS_FILE, folder / PREDICTIONS_FILE)
    return {**meta["summary"], "model_dir": str(folder / "model"), "adopted_from": str(source)}


if __name__ == "__main__":
    main()
