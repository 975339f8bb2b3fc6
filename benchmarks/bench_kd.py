"""Knowledge-distillation benchmark (issue 3): does KD help LRH-Net on two leads, and by how much?

Per seed, on the profile's synthetic default (split seeded like ``BuildOptions.seed``):

- teacher on 12 leads and teacher on leads I, II (SE-ResNet18, labels only), trained once;
- the sequential scheme's assistant (I, II teacher distilled from the 12-lead one), once;
- LRH-Net on I, II with ``none`` and, for each loss (``kl-softmax``, ``bce-sigmoid``), with
  ``vanilla``, ``parallel`` and ``sequential`` KD, each taught by the models that
  :func:`lrh_tflm.distill.distill_schedule` names.

With ``--pairs SCHEME:RECIPE ...`` the students are instead the given schemes with named
recipes of :data:`lrh_tflm.config.KD_RECIPES` (``student-{scheme}-{recipe}``, each recipe's
sequential assistant ``assistant-seq-{recipe}``); ``--pairs ptbxl`` is the PTB-XL study's
pairs (``benchmarks/bench_ptbxl.py``) plus the paper's recipe in every scheme, so both data
sets report the same recipes.

Records test-split challenge score and macro AUROC of every run, and training throughput
(training samples × epochs / wall time of the training call, validation scoring included).
Summarises mean ± std over seeds, the KD gain over ``none`` (relative %) and the 12-lead vs
2-lead teacher gap.  ``results/kd.json`` is rewritten after every run; finished
(seed, config) entries found there are skipped, so an interrupted run resumes.

Run: ``python benchmarks/bench_kd.py --profile smoke --seeds 3`` (about 10 min on 2 cores);
``--profile default`` is the real benchmark (hours on 2 cores; ``--epochs`` caps it);
``python benchmarks/bench_kd.py --pairs ptbxl --seeds 1 --out benchmarks/results/kd-default-recipes.json``
the recipes of the PTB-XL study.
"""
from __future__ import annotations

import argparse
import shutil
import statistics
import time
from dataclasses import replace
from pathlib import Path

import lrh_tflm  # noqa: F401  (environment first, as everywhere in the project)
from lrh_tflm.config import KD_RECIPES, get_profile
from lrh_tflm.distill import LOSSES, distill_schedule
from lrh_tflm.leads import LEADS
from lrh_tflm.pipeline.recipes import walk_schedule

from _bench import RESULTS, load_results, machine, prepare_synthetic, save_results

STUDENT_LEADS = ("I", "II")
KD_SCHEMES = ("vanilla", "parallel", "sequential")


def configs(pairs: list[tuple[str, str]] | None = None) -> list[str]:
    """Every run of one seed, in training order (teachers before the students they teach):
    each scheme with each loss, or the (scheme, recipe) ``pairs``."""
    if pairs is None:
        return (["teacher-12", "teacher-2", "assistant-seq", "student-none"]
                + [f"student-{scheme}-{loss}" for loss in LOSSES for scheme in KD_SCHEMES])
    out = ["teacher-12", "teacher-2", "student-none"]
    for scheme, recipe in pairs:
        if scheme == "sequential":
            out.append(f"assistant-seq-{recipe}")
        out.append(f"student-{scheme}-{recipe}")
        if KD_RECIPES[recipe].epochs:
            # A patient recipe's baseline: the student alone trained as long.
            out.append(f"student-none-e{KD_RECIPES[recipe].epochs}")
    return list(dict.fromkeys(out))


def parse_pairs(words: list[str], student: str) -> list[tuple[str, str]]:
    """``SCHEME:RECIPE`` words (or ``ptbxl``: the PTB-XL study's pairs for ``student`` and the
    paper's recipe in every scheme) as (scheme, recipe) pairs."""
    pairs: list[tuple[str, str]] = []
    for word in words:
        if word == "ptbxl":
            from bench_ptbxl import study

            pairs += list(study(student)) + [(s, "paper") for s in KD_SCHEMES]
            continue
        scheme, _, recipe = word.partition(":")
        if scheme not in KD_SCHEMES or recipe not in KD_RECIPES:
            raise SystemExit(f"--pairs {word!r}: give SCHEME:RECIPE with a scheme of "
                             f"{', '.join(KD_SCHEMES)} and a recipe of {', '.join(KD_RECIPES)}")
        pairs.append((scheme, recipe))
    return list(dict.fromkeys(pairs))


def _profile(name: str, epochs: int | None):
    prof = get_profile(name)
    if epochs is not None:
        prof = replace(prof, teacher_train=replace(prof.teacher_train, epochs=epochs),
                       student_train=replace(prof.student_train, epochs=epochs))
    return prof


def _plan(config: str, profile) -> tuple[str, tuple[str, ...], tuple[str, ...], tuple, object]:
    """(role, leads, teacher configs, teacher weights, profile) of one run."""
    if config == "teacher-12":
        return "teacher", LEADS, (), None, profile
    if config == "teacher-2":
        return "assistant", STUDENT_LEADS, (), None, profile
    if config.startswith("assistant-seq"):
        recipe = config[len("assistant-seq-"):]
        prof = replace(profile, kd=KD_RECIPES[recipe]) if recipe else profile
        step = distill_schedule("sequential", prof.kd.teacher_weights)[0]
        return "assistant", STUDENT_LEADS, ("teacher-12",), step.weights, prof
    if config.startswith("student-none-e"):
        from lrh_tflm.train import stretched_train_config

        stretched = stretched_train_config(profile.student_train, int(config[14:]))
        return ("student", STUDENT_LEADS, (), None,
                replace(profile, student_train=stretched, kd=replace(profile.kd, scheme="none")))
    _, scheme, *variant = config.split("-", 2)
    recipe = variant[0] if variant and variant[0] in KD_RECIPES else None
    # A named recipe replaces the whole KD config; a loss name only the profile's loss.
    kd = KD_RECIPES[recipe] if recipe else replace(profile.kd, loss=variant[0] if variant else profile.kd.loss)
    prof = replace(profile, kd=replace(kd, scheme=scheme))
    # The scheme's steps as the build walks them.  The student's "assistant" is the
    # labels-only I, II teacher in the parallel scheme and the distilled one (trained once,
    # as "assistant-seq") in the sequential scheme.
    plans: dict = {}

    def step(s, teachers: list[str]) -> str:
        plans[s.target] = (tuple(teachers), s.weights or None)
        if s.target == "student":
            return config
        return f"assistant-seq-{recipe}" if recipe else "assistant-seq"

    walk_schedule(distill_schedule(scheme, prof.kd.teacher_weights), step,
                  {"teacher": "teacher-12", "assistant": "teacher-2"})
    return ("student", STUDENT_LEADS, *plans["student"], prof)


def _mean_std(values: list[float]) -> dict:
    vals = [v for v in values if v is not None]
    if not vals:
        return {"mean": None, "std": None, "n": 0}
    return {"mean": statistics.fmean(vals), "std": statistics.stdev(vals) if len(vals) > 1 else 0.0,
            "n": len(vals)}


def summarise(runs: dict, seeds: list[int], pairs: list[tuple[str, str]] | None = None) -> dict:
    """Mean ± std per config, KD gain over ``none`` (relative %), 12- vs 2-lead teacher gap."""
    table = {}
    for config in configs(pairs):
        got = [runs[f"{s}/{config}"] for s in seeds if f"{s}/{config}" in runs]
        table[config] = {m: _mean_std([g[m] for g in got])
                         for m in ("test_score", "test_auroc", "samples_per_s")}
    base = table["student-none"]
    for config, row in table.items():
        if config.startswith("student-") and config != "student-none":
            for m in ("test_score", "test_auroc"):
                b, v = base[m]["mean"], row[m]["mean"]
                row[f"{m}_gain_rel_pct"] = (None if b in (None, 0) or v is None
                                            else 100.0 * (v - b) / abs(b))
    t12, t2 = table["teacher-12"], table["teacher-2"]
    gap = {m: (None if t12[m]["mean"] is None or t2[m]["mean"] is None
               else t12[m]["mean"] - t2[m]["mean"]) for m in ("test_score", "test_auroc")}
    return {"table": table, "teacher_12_minus_2_leads": gap}


def run_one(config: str, seed: int, profile, prepared, splits, work: Path, runs: dict) -> dict:
    """Train one (seed, config) and return its entry."""
    from lrh_tflm.train import train_stage

    role, leads, teacher_names, weights, prof = _plan(config, profile)
    teachers = [Path(runs[f"{seed}/{t}"]["model_dir"]) for t in teacher_names]
    folder = work / f"seed{seed}" / config
    if folder.exists():
        shutil.rmtree(folder)  # an interrupted run: start it again from scratch
    t0 = time.perf_counter()
    trained = train_stage(role, prepared, splits, leads=leads, profile=prof, out_dir=folder,
                          teachers=teachers, teacher_weights=weights, seed=seed, verbose=0)
    wall = time.perf_counter() - t0
    s = trained.summary()
    samples = len(splits["train"]) * int(s["epochs"])
    return {"seed": seed, "config": config, "role": role, "leads": list(leads),
            "teachers": list(teacher_names), "teacher_weights": list(weights or ()),
            "kd": None if not teacher_names else {
                "scheme": prof.kd.scheme, "loss": prof.kd.loss, "alpha": prof.kd.alpha,
                "temperature": prof.kd.temperature, "t_squared": prof.kd.t_squared,
                "ensemble": prof.kd.ensemble, "epochs": prof.kd.epochs},
            "test_score": s["test_score"], "test_auroc": s["test_auroc"],
            "val_score": s["val_score"], "epochs": s["epochs"], "best_epoch": s["best_epoch"],
            "params": s["params"], "train_seconds": round(float(s["seconds"]), 2),
            "stage_seconds": round(wall, 2), "train_samples": samples,
            "samples_per_s": round(samples / float(s["seconds"]), 1),
            "model_dir": s["model_dir"]}


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--profile", default="default")
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--epochs", type=int, default=None,
                        help="override the epochs of teacher and student training")
    parser.add_argument("--pairs", nargs="+", default=None, metavar="SCHEME:RECIPE",
                        help="students of named KD recipes instead of each scheme with each "
                             "loss; 'ptbxl': the PTB-XL study's pairs and the paper's recipe")
    parser.add_argument("--out", type=Path, default=RESULTS / "kd.json")
    parser.add_argument("--work", type=Path, default=None,
                        help="model folders (default build/bench-kd/<profile>[-e<epochs>])")
    args = parser.parse_args(argv)
    profile = _profile(args.profile, args.epochs)
    pairs = parse_pairs(args.pairs, profile.student.variant) if args.pairs else None
    tag = args.profile + (f"-e{args.epochs}" if args.epochs else "")
    work = args.work or Path("build") / "bench-kd" / tag
    setup = {"profile": args.profile, "epochs_override": args.epochs,
             "teacher_epochs": profile.teacher_train.epochs,
             "student_epochs": profile.student_train.epochs,
             "teacher_width": profile.teacher.width, "window": profile.data.window,
             "fs": profile.data.fs, "records": profile.synth.records,
             "student": profile.student.variant,
             "kd": {"alpha": profile.kd.alpha, "temperature": profile.kd.temperature,
                    "teacher_weights": list(profile.kd.teacher_weights)}}
    result = load_results(args.out)
    if result.get("setup") != setup:
        result = {}  # a different experiment: its runs cannot be reused
    runs = result.get("runs", {})
    seeds = list(range(args.seeds))
    # A later call may add seeds for some pairs only: the summary keeps every pair and seed
    # the file already holds.
    summary_pairs = (None if pairs is None else list(dict.fromkeys(
        [tuple(w.split(":", 1)) for w in result.get("pairs", [])] + pairs)))
    summary_seeds = sorted(set(result.get("seeds", [])) | set(seeds))
    for seed in seeds:
        prepared, splits = prepare_synthetic(profile, seed=seed)
        for config in configs(pairs):
            key = f"{seed}/{config}"
            done = runs.get(key)
            if done is not None and Path(done["model_dir"]).exists():
                continue
            print(f"[kd] seed {seed} {config} …", flush=True)
            runs[key] = run_one(config, seed, profile, prepared, splits, work, runs)
            print(f"[kd] seed {seed} {config}: score {runs[key]['test_score']}, "
                  f"AUROC {runs[key]['test_auroc']}, {runs[key]['stage_seconds']} s", flush=True)
            result = {"benchmark": "KD schemes and "
                                   + ("named recipes" if pairs else "losses")
                                   + " on the synthetic default (test split)",
                      "setup": setup, "seeds": summary_seeds, "runs": runs,
                      **({"pairs": [f"{a}:{b}" for a, b in summary_pairs]} if pairs else {}),
                      "summary": summarise(runs, summary_seeds, summary_pairs),
                      "classes": len(prepared.classes.classes),
                      "splits": {k: len(v) for k, v in splits.items()},
                      "machine": machine(),
                      "note": "samples_per_s = training windows x epochs / wall time of "
                              "train_model (per-epoch validation scoring included); the "
                              "machine was shared, see load_average_1min."}
            save_results(args.out, result, show=False)
    save_results(args.out, result, show=False)
    import json
    print(json.dumps(result.get("summary"), indent=2))
    return result


if __name__ == "__main__":
    main()
