"""Generate ``notebooks/walkthrough.ipynb`` from the cells below (reviewable Python, not JSON).

Usage::

    python tools/make_notebook.py            # writes notebooks/walkthrough.ipynb
    python tools/make_notebook.py --check    # exit 1 if the committed notebook is stale

The notebook walks the whole pipeline on the ``smoke`` profile (a couple of minutes on a
laptop CPU): data → 12-lead teacher → distilled and plain students → QAT → int8 → parity →
firmware export → a host run of one record on the TFLM runtime.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

import nbformat

NOTEBOOK = Path(__file__).resolve().parents[1] / "notebooks" / "walkthrough.ipynb"

#: (kind, source) pairs, in order; kind is "md" or "code".
CELLS: list[tuple[str, str]] = [
    ("md", """\
# lrh-tflm walkthrough: from ECG records to a microcontroller model

This notebook runs every step of `lrh-tflm build` by hand, on the tiny **smoke** profile
(synthetic records at 100 Hz, 512-sample windows, two epochs per model), so it finishes in
a few minutes on a CPU. The numbers are meaningless as medicine; the point is to see each
artefact and how the steps connect:

1. **data** — records → preprocessed cache → train/validation/test splits
2. **teacher** — SE-ResNet18 on all 12 leads
3. **distillation** — LRH-Net student on leads I and II, with and without the teacher
4. **QAT** — quantisation-aware fine-tuning of the distilled student
5. **int8** — full-integer TFLite model
6. **parity** — TFLM host runtime vs LiteRT reference kernels vs Keras
7. **export** — C array, `model_settings.h`, op resolver, measured arena
8. **host run** — one record through the int8 model on the TFLM runtime

`lrh-tflm build --profile smoke` does all of this in one command (with resumable stages and a
report); use the notebook to understand it."""),
    ("code", """\
%matplotlib inline
import os
import tempfile
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")  # TensorFlow's C++ start-up chatter
import lrh_tflm  # sets TF_USE_LEGACY_KERAS before TensorFlow is imported
import matplotlib.pyplot as plt
import numpy as np

from lrh_tflm.config import get_profile

profile = get_profile("smoke")
# Everything lands in a temporary folder; set LRH_TFLM_CACHE to reuse a prepared cache.
OUT = Path(tempfile.mkdtemp(prefix="lrh-walkthrough-"))
CACHE = Path(os.environ.get("LRH_TFLM_CACHE") or OUT / "cache")
STUDENT_LEADS = ("I", "II")
T0 = time.perf_counter()
print("outputs in", OUT)
print("cache in  ", CACHE)"""),
    ("md", """\
## 1. Data

`open_source("synthetic")` gives the built-in synthetic set (generated once into the cache);
`challenge:DIR`, `ptbxl:DIR` or `csv:FILE` open real data the same way. `prepare` reads,
checks, resamples, band-passes and stores every record once; bad records are collected in a
`ProblemLog` with the record name and reason instead of stopping the run. Splits are
multi-label stratified folds (official folds for PTB-XL)."""),
    ("code", """\
from lrh_tflm.data.cache import prepare
from lrh_tflm.data.record import ProblemLog
from lrh_tflm.data.sources import open_source
from lrh_tflm.data.splits import split_indices

source = open_source("synthetic", cache_dir=CACHE, synth=profile.synth, progress=False)
problems = ProblemLog()
prepared = prepare(source, profile.data, profile.labels, CACHE / "prepared",
                   problems=problems, workers=1, progress=False)
splits = split_indices(prepared, profile.split)
print(f"{len(prepared)} records, {len(prepared.classes.classes)} classes, "
      f"{prepared.pre.fs:g} Hz, window {prepared.pre.window} samples, {len(problems)} skipped")
print({k: len(v) for k, v in splits.items()})"""),
    ("code", """\
# Positives per class and split: the label space the models predict.
print(f"{'class':<12} {'SNOMED':<20} " + " ".join(f"{k:>6}" for k in splits))
for c, (code, abbr) in enumerate(zip(prepared.classes.classes, prepared.classes.abbreviations)):
    counts = [int(prepared.y[np.asarray(idx), c].sum()) for idx in splits.values()]
    print(f"{abbr:<12} {code:<20} " + " ".join(f"{n:>6}" for n in counts))"""),
    ("code", """\
# One 12-lead strip from the cache (band-passed, in mV), labelled with its classes.
i = int(splits["train"][0])
x = np.asarray(prepared.x[i, : prepared.valid_len[i]])
t = np.arange(len(x)) / prepared.pre.fs
labels = [a for a, on in zip(prepared.classes.abbreviations, prepared.y[i]) if on]
fig, ax = plt.subplots(figsize=(11, 6))
for k, lead in enumerate(prepared.leads):
    ax.plot(t, x[:, k] - 2.5 * k, lw=0.7)
ax.set_yticks([-2.5 * k for k in range(len(prepared.leads))], prepared.leads)
ax.set_xlabel("seconds")
ax.set_title(f"{prepared.names[i]}: {', '.join(labels) or 'no label'}")
plt.show()"""),
    ("md", """\
## 2. Teacher: SE-ResNet18 on 12 leads

`train_stage` builds the model from the profile, trains it, tunes one decision threshold per
class on the validation split, scores the test split with the Challenge metric, and saves
the model with a sidecar describing leads, classes, thresholds and preprocessing."""),
    ("code", """\
from lrh_tflm.leads import LEADS
from lrh_tflm.train import train_stage

teacher = train_stage("teacher", prepared, splits, leads=LEADS, profile=profile,
                      out_dir=OUT / "teacher-12", verbose=0)
s = teacher.summary()
print(f"teacher-12: {s['params']:,} parameters, test score {s['test_score']:.3f}, "
      f"AUROC {s['test_auroc']:.3f}")"""),
    ("md", """\
## 3. Distillation: LRH-Net on leads I and II

The student sees only leads I and II; the frozen teacher sees all 12 leads of the same
window. The loss mixes the labels (BCE) with the teacher's softened outputs (KL at
temperature T). A second student trained on labels alone is the baseline of the KD gain."""),
    ("code", """\
student_kd = train_stage("student", prepared, splits, leads=STUDENT_LEADS, profile=profile,
                         out_dir=OUT / "student-kd", teachers=[teacher.model_dir], verbose=0)
student_none = train_stage("student", prepared, splits, leads=STUDENT_LEADS, profile=profile,
                           out_dir=OUT / "student-none", verbose=0)
rows = [("teacher-12", teacher), ("student + KD", student_kd), ("student alone", student_none)]
print(f"{'model':<14} {'params':>9} {'test score':>11} {'AUROC':>7}")
for name, m in rows:
    s = m.summary()
    print(f"{name:<14} {s['params']:>9,} {s['test_score']:>11.3f} {s['test_auroc']:>7.3f}")
kd, none = student_kd.summary()["test_score"], student_none.summary()["test_score"]
print(f"KD gain: {100 * (kd - none) / abs(none):+.1f} % (two epochs on synthetic data: noisy)")"""),
    ("md", """\
## 4. Quantisation-aware training

`qat_stage` wraps the distilled student with fake-quantisation (tfmot) and fine-tunes it,
distillation continuing with the same teacher, so the weights adapt to int8 rounding."""),
    ("code", """\
from lrh_tflm.pipeline import recipes

qat = recipes.qat_stage(student_kd.model_dir, prepared, splits, profile=profile,
                       out_dir=OUT / "qat", teachers=[teacher.model_dir], verbose=0)
print(qat.summary())"""),
    ("md", """\
## 5. Full-int8 TFLite

`convert_student` converts the QAT model with a representative dataset from the training split
(int8 inputs, weights, activations and outputs — what TFLite Micro needs). `int8_stage` writes
it beside float conversions of the student and teacher for comparison, scores the int8 model on
the test split and times one window on LiteRT."""),
    ("code", """\
converted = recipes.convert_student(qat.model_dir, prepared, splits, profile=profile)
int8 = recipes.int8_stage(converted, student_kd.model_dir, teacher.model_dir, prepared,
                         splits, profile=profile, out_dir=OUT / "int8", latency_runs=20)
print(f"int8 model: {int8['tflite_bytes']:,} bytes (float student {int8['float_bytes']:,}), "
      f"ops {', '.join(int8['ops'])}")
print(f"int8 test score {int8['test_score']:.3f}, AUROC {int8['test_auroc']:.3f}")
print({k: (round(v, 3) if isinstance(v, float) else v) for k, v in int8["latency_ms"].items()})"""),
    ("md", """\
## 6. Parity

The same int8 windows run through the TFLM host runtime (the microcontroller's kernels),
LiteRT's reference kernels and LiteRT's XNNPACK path, and the decisions are compared with the
QAT Keras model's. TFLM must match the reference bit for bit (the firmware is then exactly
this model). XNNPACK is checked kernel by kernel: each operator, fed the reference's own
intermediate tensors, must stay within 1 LSB of the reference kernel (XNNPACK requantises in
float, the reference in fixed point). End to end these one-step differences compound over the
graph's ~34 ops (3 LSB on the default model's logits), so that number is reported, and only
XNNPACK's decisions must agree with the reference's. A few int8-vs-Keras decisions may flip
for probabilities that sit right at a threshold."""),
    ("code", """\
from lrh_tflm.data.pipeline import eval_windows
from lrh_tflm.io import read_json
from lrh_tflm.artifact import load_model
from lrh_tflm.tflite.parity import parity_chain

int8_path = Path(int8["int8"])
side = read_json(int8_path.with_suffix(".json"))
qat_model, _ = load_model(qat.model_dir)
test = np.asarray(splits["test"])
ecg, demo, _ = eval_windows(prepared, test, int(prepared.pre.window), STUDENT_LEADS)
parity = parity_chain(int8_path.read_bytes(), ecg, demo, [prepared.names[i] for i in test],
                      thresholds=side["thresholds"], classes=list(prepared.classes.abbreviations),
                      keras_model=qat_model)
print(parity.summary())"""),
    ("md", """\
## 7. Firmware export

`export_firmware` writes the files the Arduino sketch compiles: the model as a C array
(carrying the `.tflite`'s SHA-256), `model_settings.h` (leads, rate, window, classes,
thresholds, quantisation, filter, arena), `model_ops.h` (only the ops this model uses) and
`footprint.json`. The arena size is measured in the TFLM host runtime, not guessed.
`lrh-tflm build --firmware firmware/lrh_ecg` puts them into the sketch's `src/`."""),
    ("code", """\
from lrh_tflm.device.codegen import export_firmware

fw = export_firmware(int8_path, side, OUT / "firmware", hop=profile.hop,
                     arena_margin=profile.quant.arena_margin,
                     arena_margin_bytes=profile.quant.arena_margin_bytes)
print("wrote:", ", ".join(sorted(fw.files)))
print()
print("\\n".join(fw.files["model_settings.h"].read_text().splitlines()[:40]))
print("...")
print()
print(fw.footprint["summary"])"""),
    ("md", """\
## 8. A record through the int8 model on the TFLM runtime

`Predictor` applies the training preprocessing to a whole record, slides the window with the
firmware's hop, quantises every window with the model's input scale and runs it on the chosen
runtime — `tflm` is the microcontroller's interpreter running on the host. A real PhysioNet
record is used when the sample records are available, else a synthetic one."""),
    ("code", """\
from lrh_tflm.infer import Predictor, prediction_table, read_record

# The repository's sample records sit beside the checkout (../shared) when they are present.
candidates = [Path(p) / "shared/data/challenge-samples/cinc2021/JS20000.hea"
              for p in ("..", "../..", "/work")]
real = next((p for p in candidates if p.exists()), None)
if real is not None:
    record = read_record(real)
else:
    name = prepared.names[int(splits["test"][0])]
    record = source.read(next(r for r in source.refs() if r.name == name))
predictor = Predictor(int8_path, side, runtime="tflm")
pred = predictor.predict_record(record, hop=profile.hop)
print(f"{record.name}: {record.fs:g} Hz, {record.signal.shape[1]} samples, labels "
      f"{', '.join(record.labels) or 'none'}")
print(prediction_table(pred, predictor.abbreviations))"""),
    ("code", """\
fig, ax = plt.subplots(figsize=(10, 4))
for c, abbr in enumerate(predictor.abbreviations):
    ax.plot(pred.starts_s, pred.probabilities[:, c], marker="o", label=abbr)
ax.set_xlabel("window start (s)")
ax.set_ylabel("probability")
ax.set_ylim(0, 1)
ax.set_title(f"{pred.record}: per-window probabilities (int8 on TFLM)")
ax.legend(fontsize=7, ncol=5)
plt.show()
print(f"walkthrough finished in {time.perf_counter() - T0:.0f} s")"""),
    ("md", """\
## Next

- `lrh-tflm build --profile default --leads 2 --firmware firmware/lrh_ecg` — the same chain
  with resumable stages and a report (`OUT/report/report.md`, `benchmark.json`,
  `model_card.json`).
- `lrh-tflm evaluate OUT/int8/student_int8.tflite --data challenge:DIR` — score the int8
  model on other data.
- `firmware/README.md` — building the sketch and replaying records into a board."""),
]


def make_notebook() -> nbformat.NotebookNode:
    """The walkthrough notebook (no outputs)."""
    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nb.metadata["language_info"] = {"name": "python"}
    make = {"md": nbformat.v4.new_markdown_cell, "code": nbformat.v4.new_code_cell}
    nb.cells = [make[kind](src) for kind, src in CELLS]
    # Stable ids so regenerating gives the same file.
    for i, cell in enumerate(nb.cells):
        cell["id"] = f"cell-{i:02d}"
    return nb


def main(argv: list[str] | None = None) -> int:
    """Write (or with ``--check`` compare) the notebook; returns the exit status."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--check", action="store_true", help="fail if the notebook is stale")
    ap.add_argument("--out", type=Path, default=NOTEBOOK)
    args = ap.parse_args(argv)
    text = nbformat.writes(make_notebook())
    if args.check:
        current = args.out.read_text() if args.out.exists() else ""
        if current != text:
            print(f"{args.out} is stale; run python tools/make_notebook.py", file=sys.stderr)
            return 1
        return 0
    args.out.parent.mkdir(parents=True, exist_ok=True)
    tmp = args.out.with_suffix(".ipynb.tmp")
    tmp.write_text(text)
    tmp.replace(args.out)
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
