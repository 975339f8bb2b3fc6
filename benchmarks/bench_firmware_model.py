"""The committed firmware model's fold-10 figures, per task and per class (firmware/README.md).

Reads a PTB-XL build folder (``lrh-tflm build --data ptbxl:DIR --profile ptbxl``): the int8
stage's test probabilities (LiteRT reference kernels, bit-identical to TFLM; the mean over each
record's windows every ``eval_hop`` samples) and the sidecar's thresholds, which are the
sketch's ``kThresholds`` (tuned on fold 9).  Each task (``bench_ptbxl.TASKS``) is scored on
the test records that carry a label of it, as the PTB-XL benchmark scores its tasks:

- per task: records, macro AUROC, macro F1 at the board's thresholds;
- per class: test positives, AUROC, F1.

With ``--readme`` the tables replace the block between ``<!-- firmware-model:start -->`` and
``<!-- firmware-model:end -->``, refused unless the build's int8 model is the one committed in
``firmware/lrh_ecg/src`` (same sha256).

Run::

    python benchmarks/bench_firmware_model.py --data /data/ptb-xl --build build \
        [--readme firmware/README.md]
"""
from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
from bench_ptbxl import TASKS, task_columns, task_subset

import lrh_tflm  # noqa: F401  (environment first, as everywhere in the project)
from lrh_tflm import metrics as M
from lrh_tflm.io import finite, read_json, replace_marked, sha256_bytes

from _bench import RESULTS, SKETCH_SRC, cache_dir, committed_model_sha256, machine, save_results

MARKER = "firmware-model"


def score(y: np.ndarray, probs: np.ndarray, thresholds: np.ndarray, classes: list[str]) -> dict:
    """Per task (on the records labelled with it): macro AUROC and F1, and per-class rows
    (NaN, a class without positives or negatives, as ``None``)."""
    out = {}
    for task in TASKS:
        cols = task_columns(task, classes)
        yt, pt = task_subset(y, probs, cols)
        pred = pt >= thresholds[cols]
        out[task] = finite({
            "records": len(yt),
            "macro_auroc": M.macro_auroc(yt, pt).value,
            "macro_f1": M.macro_f1(yt, pred).value,
            "classes": {classes[c]: {"positives": int(yt[:, j].sum()),
                                     "auroc": M.auroc(yt[:, j], pt[:, j]),
                                     "f1": M.f1(yt[:, j], pred[:, j])}
                        for j, c in enumerate(cols)},
        })
    return out


def _fmt(v: float | None) -> str:
    return "—" if v is None else f"{v:.3f}"


def markdown(result: dict) -> str:
    """The task table, then the per-class table in two side-by-side halves."""
    tasks = result["tasks"]
    lines = ["| task | records | macro AUROC | macro F1 |", "|---|---:|---:|---:|"]
    lines += [f"| {t} | {r['records']:,} | {_fmt(r['macro_auroc'])} | {_fmt(r['macro_f1'])} |"
              for t, r in tasks.items()]
    rows = [(c, r) for t in tasks.values() for c, r in t["classes"].items()]
    half = (len(rows) + 1) // 2
    left, right = rows[:half], rows[half:]
    cell = lambda c, r: f"{c} | {r['positives']:,} | {_fmt(r['auroc'])} | {_fmt(r['f1'])}"  # noqa: E731
    lines += ["", "| class | test positives | AUROC | F1 | | class | test positives | AUROC | F1 |",
              "|---|---:|---:|---:|---|---|---:|---:|---:|"]
    for i, (c, r) in enumerate(left):
        other = cell(*right[i]) if i < len(right) else " | | | "
        lines.append(f"| {cell(c, r)} | | {other} |")
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--data", type=Path, required=True, help="PTB-XL folder (unpacked)")
    ap.add_argument("--build", type=Path, default=Path("build"), help="the build's --out folder")
    ap.add_argument("--profile", default="ptbxl")
    ap.add_argument("--cache", type=Path, default=None, help="the build's --cache folder")
    ap.add_argument("--results", type=Path, default=RESULTS / "firmware_model.json")
    ap.add_argument("--readme", type=Path, default=None,
                    help="also write the tables between the file's firmware-model markers")
    args = ap.parse_args()

    from lrh_tflm.config import get_profile
    from lrh_tflm.pipeline.recipes import prepare_data

    int8_dir = args.build / "int8"
    tflite, probs_file = int8_dir / "student_int8.tflite", int8_dir / "test_probs.npy"
    for path in (tflite, probs_file):
        if not path.exists():
            ap.error(f"{path} not found: is {args.build} a finished build folder?")
    side = read_json(int8_dir / "student_int8.json")
    data = prepare_data(f"ptbxl:{args.data}", get_profile(args.profile),
                        Path(args.cache or cache_dir()), progress=False)
    classes = list(data.prepared.classes.classes)
    if classes != list(side["classes"]["classes"]):
        ap.error(f"the build's classes {side['classes']['classes']} are not this data's {classes}")
    y = data.prepared.y[np.asarray(data.splits["test"])].astype(bool)
    probs = np.load(probs_file)
    if probs.shape != y.shape:
        ap.error(f"{probs_file}: {probs.shape} probabilities for {y.shape} test labels "
                 "(another data preparation?)")
    sha = sha256_bytes(tflite.read_bytes())
    result = {"build": str(args.build), "sha256": sha, "committed": sha == committed_model_sha256(),
              "variant": side["model_config"].get("variant"), "leads": side["leads"],
              "thresholds": "the sidecar's (kThresholds), tuned on fold 9",
              "runtime": "LiteRT reference kernels (int8 stage's test_probs.npy)",
              "tasks": score(y, probs, np.asarray(side["thresholds"]), classes),
              "machine": machine()}
    save_results(args.results, result, show=False)
    table = markdown(result)
    print(table)
    if args.readme is not None:
        if not result["committed"]:
            ap.error(f"{tflite} (sha256 {sha[:12]}…) is not the model committed in {SKETCH_SRC}; "
                     "export it with --firmware first")
        args.readme.write_text(replace_marked(args.readme.read_text(), MARKER, table))


if __name__ == "__main__":
    main()
