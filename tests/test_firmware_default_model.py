"""The model committed in the sketch folder is a complete, self-consistent pipeline export."""
import re
from pathlib import Path

import numpy as np

from lrh_tflm.device.codegen import model_ops, parse_c_array
from lrh_tflm.io import sha256_bytes

SRC = Path(__file__).resolve().parents[1] / "firmware" / "lrh_ecg" / "src"


def _model_bytes() -> bytes:
    return parse_c_array((SRC / "model_data.cc").read_text())


def _const(header: str, name: str) -> str:
    m = re.search(rf"{name}\s*(?:\[\])?\s*=\s*([^;]+);", (SRC / header).read_text())
    assert m, f"{name} not in {header}"
    return m.group(1).strip().strip('"')


def test_committed_model_matches_its_recorded_hash():
    data = _model_bytes()
    sha = sha256_bytes(data)
    assert _const("model_data.h", "kModelSha256") == sha
    for name in ("model_settings.h", "model_ops.h", "model_data.cc"):
        assert sha in (SRC / name).read_text().splitlines()[0], f"{name} is from another model"
    assert int(_const("model_data.cc", "kModelDataLen")) == len(data)


def test_committed_ops_header_lists_exactly_the_models_ops():
    ops = model_ops(_model_bytes())
    assert int(_const("model_ops.h", "kNumModelOps")) == len(ops)
    assert int(_const("model_settings.h", "kNumOps")) == len(ops)


def test_committed_model_runs_in_tflm_with_the_generated_arena():
    from lrh_tflm.tflite.runtime import make_runner

    arena = int(_const("model_settings.h", "kArenaBytes"))
    runner = make_runner(_model_bytes(), "tflm", arena_size=arena)
    window = int(_const("model_settings.h", "kWindowSamples"))
    leads = int(_const("model_settings.h", "kNumLeads"))
    assert tuple(runner.ecg.shape[-2:]) == (window, leads)
    ecg = np.zeros(runner.ecg.shape, dtype=runner.ecg.dtype)
    demo = np.zeros(runner.demo.shape, dtype=runner.demo.dtype)
    out = runner.run(ecg, demo)
    assert out.size == int(_const("model_settings.h", "kNumClasses"))
