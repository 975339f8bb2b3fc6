"""Generate firmware model files from an *untrained* LRH-Net for compile and size checks.

The weights are random (seeded), so the files say nothing about accuracy; their shapes,
op list, quantisation layout and byte size are those of the real model, which is all the
arm compile/size check and the host preprocessing parity test need.  Run::

    /work/venv/bin/python firmware/tools/make_model_fixture.py OUT_DIR [--width W] [--classes N]

The committed firmware/tests/fixture/ was made with ``--width 0.25`` (small file); the
full-width numbers in firmware/README.md come from ``--width 1``.
"""
from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

import numpy as np

import lrh_tflm  # noqa: F401  (sets TF_USE_LEGACY_KERAS before TensorFlow)

FIXTURE_NOTE = ("// TEST FIXTURE: exported from an untrained, randomly initialised LRH-Net by\n"
                "// firmware/tools/make_model_fixture.py; for compile/size/preprocessing checks only.\n")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("out_dir", type=Path)
    ap.add_argument("--width", type=float, default=0.25)
    ap.add_argument("--classes", type=int, default=9)
    ap.add_argument("--window", type=int, default=1024)
    args = ap.parse_args()

    import tensorflow as tf

    from lrh_tflm import tflite as q
    from lrh_tflm.config import PreprocessConfig, StudentConfig
    from lrh_tflm.device.codegen import export_firmware
    from lrh_tflm.models import build_student

    tf.random.set_seed(0)
    leads = ("I", "II")
    model = build_student(StudentConfig(variant="lrh-net-mcu", width=args.width), len(leads),
                          args.window, args.classes)
    rng = np.random.default_rng(0)
    # z-scored windows are roughly unit variance: a representative set of such windows.
    rep = [(rng.normal(size=(1, 1, args.window, len(leads))).astype("float32"),
            rng.uniform(0, 1, size=(1, 5)).astype("float32")) for _ in range(8)]
    blob = q.convert_int8(model, rep)
    codes = [f"{100000000 + i}" for i in range(args.classes)]
    sidecar = {"leads": list(leads), "fs": PreprocessConfig().fs, "window": args.window,
               "classes": {"classes": codes, "abbreviations": [f"C{i}" for i in range(args.classes)]},
               "thresholds": [0.5] * args.classes}
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "fixture_untrained.tflite"
        path.write_bytes(blob)
        res = export_firmware(path, sidecar, Path(tmp) / "fw", hop=250, arena_margin=0.1,
                              arena_margin_bytes=1024, keras_model=model)
        args.out_dir.mkdir(parents=True, exist_ok=True)
        for name in ("model_data.h", "model_data.cc", "model_settings.h", "model_ops.h"):
            text = res.files[name].read_text()
            (args.out_dir / name).write_text(FIXTURE_NOTE + text)
    print(f"wrote {args.out_dir}: {len(blob)} bytes of flatbuffer, ops {res.ops}, "
          f"arena {res.arena_measured} measured / {res.arena_bytes} with margin")


if __name__ == "__main__":
    main()
