"""Model sizes: trainable/total parameters and MACs per window, no training.

Teacher (SE-ResNet18) with 12 and 2 leads and the students (LRH-Net, LRH-Net-MCU) with 2 leads,
each at the paper's size (width 1, 4096 samples, 24 classes) and at the default profile's
(its teacher width, its window, its class count on the synthetic default).  Checks the paper's
8,827,460 / 83,236 trainable parameters and the 106× ratio.  Writes ``results/models.json``.

With ``--latency``: single-thread LiteRT latency (median of ``--runs`` invokes, XNNPACK, batch 1)
of randomly initialised paper-size models (timing does not depend on the weights): float
teacher on 12 leads, float and PTQ-int8 LRH-Net and LRH-Net-MCU on 2 leads, and the
teacher → student latency reduction (the paper reports −75 % on a GPU).

Run: ``python benchmarks/bench_models.py [--classes N] [--latency]`` (about 40 s, + about 2 min
with ``--latency``; ``--classes`` skips preparing the default synthetic set to learn its class
count).
"""
from __future__ import annotations

import argparse
import time
from dataclasses import replace

import lrh_tflm  # noqa: F401  (environment first, as everywhere in the project)
from lrh_tflm.config import StudentConfig, TeacherConfig, get_profile
from lrh_tflm.models import build_model
from lrh_tflm.models.footprint import summary

from _bench import RESULTS, machine, prepare_synthetic, save_results

PAPER_CLASSES = 24
PAPER_WINDOW = 4096
PAPER_TEACHER_2_LEADS = 8_827_460
PAPER_STUDENT_2_LEADS = 83_236


def measure(kind: str, cfg, leads: int, window: int, classes: int) -> dict:
    """Parameters and MACs of one freshly built model."""
    import tf_keras

    tf_keras.backend.clear_session()
    model = build_model(kind, cfg, leads, window, classes)
    return {"kind": kind, "leads": leads, "window": window, "classes": classes, **summary(model)}


def rows(default_classes: int) -> dict[str, dict]:
    """Every model/size combination, keyed by a readable name."""
    prof = get_profile("default")
    w = int(prof.data.window)
    paper_t, default_t = TeacherConfig(width=1.0), prof.teacher
    out = {}
    for name, kind, cfg, leads, window, classes in [
        ("teacher paper 12 leads", "teacher", paper_t, 12, PAPER_WINDOW, PAPER_CLASSES),
        ("teacher paper 2 leads", "teacher", paper_t, 2, PAPER_WINDOW, PAPER_CLASSES),
        (f"teacher default (width {default_t.width}) 12 leads", "teacher", default_t, 12, w,
         default_classes),
        (f"teacher default (width {default_t.width}) 2 leads", "teacher", default_t, 2, w,
         default_classes),
    ]:
        out[name] = measure(kind, cfg, leads, window, classes)
    for variant in ("lrh-net", "lrh-net-mcu"):
        cfg = replace(StudentConfig(), variant=variant)
        for window in (PAPER_WINDOW, w):
            for classes in (PAPER_CLASSES, default_classes):
                out[f"{variant} 2 leads window {window} classes {classes}"] = measure(
                    "student", cfg, 2, window, classes)
    return out


def paper_latency(runs: int, seed: int = 0) -> dict:
    """Latency (ms) and flatbuffer bytes of paper-size models with random weights."""
    import numpy as np
    import tf_keras

    from lrh_tflm.pipeline.recipes import median_latency_ms
    from lrh_tflm.tflite.convert import convert_float, convert_int8

    rng = np.random.default_rng(seed)
    # Calibration data only sets int8 ranges; z-scored windows are roughly unit normal.
    rep = [(rng.standard_normal((1, 1, PAPER_WINDOW, 2)).astype(np.float32),
            rng.standard_normal((1, 5)).astype(np.float32)) for _ in range(8)]
    out = {}
    tf_keras.utils.set_random_seed(seed)
    teacher = build_model("teacher", TeacherConfig(width=1.0), 12, PAPER_WINDOW, PAPER_CLASSES)
    tfl = convert_float(teacher)
    out["teacher 12 leads float"] = {"ms": median_latency_ms(tfl, runs=runs), "bytes": len(tfl)}
    for variant in ("lrh-net", "lrh-net-mcu"):
        model = build_model("student", replace(StudentConfig(), variant=variant), 2, PAPER_WINDOW,
                            PAPER_CLASSES)
        tfl = convert_float(model)
        out[f"{variant} 2 leads float"] = {"ms": median_latency_ms(tfl, runs=runs), "bytes": len(tfl)}
        tfl = convert_int8(model, rep)
        out[f"{variant} 2 leads int8 (PTQ)"] = {"ms": median_latency_ms(tfl, runs=runs),
                                               "bytes": len(tfl)}
    t = out["teacher 12 leads float"]["ms"]
    for name, row in out.items():
        row["ms"] = round(row["ms"], 3)
        if name.startswith("lrh"):
            row["reduction_vs_teacher_pct"] = round(100.0 * (1 - row["ms"] / t), 1)
    return {"models": out, "runs": runs, "threads": 1, "window": PAPER_WINDOW,
            "classes": PAPER_CLASSES, "runtime": "LiteRT (XNNPACK), batch 1, zero input, random weights"}


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--classes", type=int, default=None,
                        help="class count of the default profile (default: prepare and count)")
    parser.add_argument("--latency", action="store_true",
                        help="also time paper-size models on LiteRT (one thread)")
    parser.add_argument("--runs", type=int, default=50, help="latency invokes per model")
    args = parser.parse_args(argv)
    t0 = time.perf_counter()
    if args.classes is None:
        prepared, _ = prepare_synthetic(get_profile("default"))
        default_classes = len(prepared.classes.classes)
    else:
        default_classes = args.classes
    models = rows(default_classes)
    t2 = models["teacher paper 2 leads"]["trainable"]
    s2 = models[f"lrh-net 2 leads window {PAPER_WINDOW} classes {PAPER_CLASSES}"]["trainable"]
    mcu = models[f"lrh-net-mcu 2 leads window {PAPER_WINDOW} classes {PAPER_CLASSES}"]
    t12 = models["teacher paper 12 leads"]
    result = {
        "benchmark": "parameters (trainable, total incl. BN statistics) and MACs per window",
        "default_profile_classes": default_classes,
        "default_profile_window": int(get_profile("default").data.window),
        "models": models,
        "paper_check": {
            "teacher_2_leads_trainable": t2, "teacher_expected": PAPER_TEACHER_2_LEADS,
            "teacher_matches": t2 == PAPER_TEACHER_2_LEADS,
            "student_2_leads_trainable": s2, "student_expected": PAPER_STUDENT_2_LEADS,
            "student_matches": s2 == PAPER_STUDENT_2_LEADS,
            "param_ratio_teacher_over_student": round(t2 / s2, 2),
            "mac_ratio_teacher12_over_student": round(
                t12["macs"] / models[f"lrh-net 2 leads window {PAPER_WINDOW} classes "
                                     f"{PAPER_CLASSES}"]["macs"], 2),
            "lrh_net_mcu_trainable_paper_size": mcu["trainable"],
        },
        "conventions": "MACs per window at batch 1: Conv2D/Dense multiply-accumulates only "
                       "(BN, activations, pooling, Add/Multiply count 0); lrh_tflm.models.footprint",
        "paper_size_latency": paper_latency(args.runs) if args.latency else None,
        "seconds": round(time.perf_counter() - t0, 1),
        "machine": machine(),
    }
    save_results(RESULTS / "models.json", result)
    return result


if __name__ == "__main__":
    main()
