"""One source of truth for the firmware's constants (issue 12, deliverable 3).

Everything the model's files carry — hop, window, thresholds, decision smoothing (k of n),
quantisation, … — reaches the sketch through the generated ``model_settings.h`` and the
host's mirrors (the simulated device, ``lrh-tflm stream``) through that header or the
model's sidecar.  These tests fail when one of them writes such a value by hand.
"""
from __future__ import annotations

import re
import shutil
from pathlib import Path

import numpy as np
import pytest

from lrh_tflm.artifact import DEFAULT_SMOOTHING, sidecar_smoothing
from lrh_tflm.device import codegen, simdevice, stream
from lrh_tflm.device.codegen import parse_c_array
from lrh_tflm.device.hostbuild import FIRMWARE_DIR, DeviceSettings, settings_value

SKETCH = FIRMWARE_DIR / "lrh_ecg"
FIXTURE = FIRMWARE_DIR / "tests" / "fixture"
GENERATED = ("model_data.h", "model_data.cc", "model_settings.h", "model_ops.h")
_CONSTEXPR = re.compile(r"constexpr\s+[\w:*\s]+?\b(k\w+)\s*(?:\[[^\]]*\])*\s*=")


def _generated_names(settings_dir: Path) -> set[str]:
    return set(_CONSTEXPR.findall((settings_dir / "model_settings.h").read_text()))


def _hand_written_sources() -> list[Path]:
    files = [p for p in SKETCH.rglob("*") if p.suffix in (".ino", ".cpp", ".h")]
    return [p for p in files if p.name not in GENERATED]


def test_the_header_carries_the_smoothing_and_hop():
    for settings in (SKETCH / "src", FIXTURE):
        names = _generated_names(settings)
        assert {"kSmoothK", "kSmoothN", "kHopSamples", "kWindowSamples", "kThresholds"} <= names
        k, n = int(settings_value(settings, "kSmoothK")), int(settings_value(settings, "kSmoothN"))
        assert 1 <= k <= n <= 32
        assert DeviceSettings.from_header(settings).smooth == (k, n)


def test_the_sketch_defines_none_of_the_generated_constants():
    names = _generated_names(SKETCH / "src")
    sources = _hand_written_sources()
    assert any(p.suffix == ".ino" for p in sources)
    for path in sources:
        text = path.read_text()
        redefined = names & set(_CONSTEXPR.findall(text))
        assert not redefined, f"{path.relative_to(FIRMWARE_DIR)} hard-codes {sorted(redefined)}"
        # The smoother (and the windower) take their numbers from the header, not literals.
        assert not re.search(r"KOfNSmoother\s*\w*\s*[({]\s*\d", text), path
        assert not re.search(r"(Pipeline|Windower)\s*\w*\s*[({]\s*\d", text), path
    ino = next(p for p in sources if p.suffix == ".ino").read_text()
    assert re.search(r"KOfNSmoother\s+\w+\(\s*lrh::kSmoothK\s*,\s*lrh::kSmoothN\s*\)", ino)


@pytest.mark.parametrize("module", [simdevice, stream])
def test_the_python_mirrors_write_no_model_value_by_hand(module):
    text = Path(module.__file__).read_text()
    for pattern in (r"smooth\w*\s*(?::[^=\n]+)?=\s*\(\s*\d",  # smooth=(2, 3) defaults
                    r"KOfNSmoother\(\s*\d",
                    r"\bhop\w*\s*(?::[^=\n]+)?=\s*\d",          # hop=250
                    r"threshold\w*\s*(?::[^=\n]+)?=\s*[\[(]?\s*0?\.\d"):
        hit = re.search(pattern, text)
        assert hit is None, f"{module.__name__} hard-codes {hit.group(0)!r}"
    assert stream.StreamConfig().smooth is None


def test_generated_header_follows_the_sidecar_smoothing(tmp_path):
    """The generator writes the sidecar's k of n; the header parser reads it back."""
    blob = parse_c_array((FIXTURE / "model_data.cc").read_text())
    header = DeviceSettings.from_header(FIXTURE)
    sidecar = _fixture_sidecar(header)
    tfl = tmp_path / "m.tflite"
    tfl.write_bytes(blob)
    for k, n in ((1, 1), (3, 5)):
        out = codegen.export_firmware(tfl, {**sidecar, "smoothing": {"k": k, "n": n}},
                                      tmp_path / f"fw{k}{n}", hop=77, arena_margin=0.0,
                                      arena_margin_bytes=0)
        got = DeviceSettings.from_header(out.out_dir)
        assert got.smooth == (k, n) and got.hop == 77
        assert got.thresholds == pytest.approx(header.thresholds)
    with pytest.raises(ValueError, match="smoothing"):
        sidecar_smoothing({"smoothing": {"k": 4, "n": 3}})
    assert sidecar_smoothing({}) == DEFAULT_SMOOTHING


def _fixture_sidecar(header: DeviceSettings) -> dict:
    from dataclasses import asdict

    from lrh_tflm.config import PreprocessConfig

    n = len(header.classes)
    return {"leads": list(header.leads), "fs": header.fs, "window": header.window,
            "classes": {"classes": [str(100000000 + i) for i in range(n)],
                        "abbreviations": list(header.classes)},
            "thresholds": list(header.thresholds),
            "preprocessing": asdict(PreprocessConfig(fs=header.fs, window=header.window,
                                                     leads=header.leads))}


def test_stream_host_reference_smooths_as_the_sidecar_says():
    blob = parse_c_array((FIXTURE / "model_data.cc").read_text())
    header = DeviceSettings.from_header(FIXTURE)
    base = {**_fixture_sidecar(header), "thresholds": [0.0] * len(header.classes)}
    rng = np.random.default_rng(0)
    samples = (rng.normal(0, 300, (header.window + 4 * 50, len(header.leads)))).astype(np.int16)
    starts = [0, 50, 100, 150, 200]
    results = {}
    for k, n in ((1, 1), (3, 3)):
        host = stream.HostReference(blob, {**base, "smoothing": {"k": k, "n": n}})
        assert host.smooth == (k, n)
        _, raw, smoothed = host.decide(samples, starts)
        results[k, n] = (raw, smoothed)
    all_on = (1 << len(header.classes)) - 1
    raw, smoothed = results[1, 1]
    assert raw == [all_on] * 5 and smoothed == raw              # threshold 0: every class on
    raw, smoothed = results[3, 3]
    assert smoothed == [0, 0, all_on, all_on, all_on]           # on from the third window


def test_simulated_device_smooths_as_its_header_says(tmp_path):
    """The simulated device's smoothing is the header's: a header with 1 of 1 is read as such."""
    settings = tmp_path / "settings"
    shutil.copytree(FIXTURE, settings)
    path = settings / "model_settings.h"
    text = path.read_text()
    text = re.sub(r"kSmoothK = \d+", "kSmoothK = 1", text)
    text = re.sub(r"kSmoothN = \d+", "kSmoothN = 1", text)
    path.write_text(text)
    assert DeviceSettings.from_header(settings).smooth == (1, 1)
    # SimulatedDevice takes its smoother from these settings unless told otherwise.
    import inspect

    params = inspect.signature(simdevice.SimulatedDevice.__init__).parameters
    assert params["smooth"].default is None and params["hop"].default is None
