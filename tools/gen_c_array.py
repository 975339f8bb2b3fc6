#!/usr/bin/env python3
"""Write ``model_data.h`` / ``model_data.cc`` (alignas(16) C array + SHA-256) for a ``.tflite``.

Usage: ``python tools/gen_c_array.py model.tflite OUT_DIR [--name NAME]``

A thin wrapper over :func:`lrh_tflm.device.codegen.c_array_files`, the generator ``lrh-tflm export``
uses, for when only the array is wanted (e.g. trying a model in an existing sketch).
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("tflite", type=Path, help="the .tflite flatbuffer")
    parser.add_argument("out_dir", type=Path, help="folder for model_data.h and model_data.cc")
    parser.add_argument("--name", default=None,
                        help="source name written in the banner [default: the file name]")
    args = parser.parse_args(argv)

    from lrh_tflm.device.codegen import c_array_files
    from lrh_tflm.io import write_text_atomic

    if not args.tflite.is_file():
        print(f"error: {args.tflite} not found", file=sys.stderr)
        return 1
    data = args.tflite.read_bytes()
    if data[4:8] != b"TFL3":
        print(f"error: {args.tflite} is not a TFLite flatbuffer", file=sys.stderr)
        return 1
    for name, text in c_array_files(data, args.name or args.tflite.name).items():
        write_text_atomic(args.out_dir / name, text)
        print(args.out_dir / name)
    return 0


if __name__ == "__main__":
    sys.exit(main())
