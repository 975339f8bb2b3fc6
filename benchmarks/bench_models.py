"""Model sizes: trainable/total parameters and MACs per window, no training.

Teacher (SE-ResNet18) with 12 and 2 leads and the students (LRH-Net, LRH-Net-MCU) with 2 leads,
each at the paper's size (width 1, 4096 samples, 24 classes) and at the default profile's
(its teacher width, its window, its class count on the synthetic default).  Checks the paper's
8,827,460 / 83,236 trainable parameters and the 106× ratio.  Writes ``results/models.json``.

Run: ``python benchmarks/bench_models.py [--classes N]`` (about 30 s; ``--classes`` skips preparing
the default synthetic set to learn its class count).
"""
from __future__ import annotations

import argparse
import time
from dataclasses import replace

import lrh_tflm  # noqa: F401  (environment first, as everywhere in the project)
from _bench import RESULTS, machine, prepare_synthetic, save_results
from lrh_tflm.config import StudentConfig, TeacherConfig, get_profile
from lrh_tflm.models import build_model
from lrh_tflm.models.footprint import summary

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


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--classes", type=int, default=None,
                        help="class count of the default profile (default: prepare and count)")
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
        "seconds": round(time.perf_counter() - t0, 1),
        "machine": machine(),
    }
    save_results(RESULTS / "models.json", result)
    return result


if __name__ == "__main__":
    main()
