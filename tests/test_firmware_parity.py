"""The firmware's C++ preprocessing equals the Python pipeline (lrh_tflm.data.preprocess).

Real PhysioNet records (leads I and II, resampled to the model rate by the Python side) and
the synthetic default are fed in millivolts to ``lrh_host`` (the firmware core built with g++
against the fixture settings); every int8 window must equal the Python window within ±1 LSB,
and almost all exactly.
"""
import shutil

import numpy as np
import pytest

from lrh_tflm.config import PreprocessConfig, SynthConfig
from lrh_tflm.data import preprocess as pp
from lrh_tflm.data.challenge import read_challenge_record
from lrh_tflm.data.record import RecordError
from lrh_tflm.device import hostbuild as fw
from lrh_tflm.tflite.runtime import quantize_array
from lrh_tflm.tflite.schema import TensorInfo

pytestmark = pytest.mark.skipif(shutil.which("g++") is None or shutil.which("make") is None,
                                reason="g++/make not installed: the host firmware build needs them")

from conftest import SAMPLES_DIR as SAMPLES  # ../shared beside the checkout

FIXTURE = fw.FIRMWARE_DIR / "tests" / "fixture"
LEADS = ("I", "II")
HOP = 100            # more windows per 10-s record than the default hop
MAX_SAMPLES = 3000   # at 125 Hz: 24 s per record keeps the test fast


@pytest.fixture(scope="module")
def setup():
    build = fw.build_host(FIXTURE)
    cfg = PreprocessConfig(leads=LEADS, fs=float(fw.settings_value(FIXTURE, "kSampleRateHz").rstrip("f")),
                           window=int(fw.settings_value(FIXTURE, "kWindowSamples")))
    scale = float(fw.settings_value(FIXTURE, "kInputScale").rstrip("f"))
    zp = int(fw.settings_value(FIXTURE, "kInputZeroPoint"))
    return build, cfg, scale, zp


def python_windows(x32: np.ndarray, cfg: PreprocessConfig, scale: float, zp: int):
    """The Python pipeline from resampled mV: causal band-pass, windows, z-score, int8."""
    filtered = pp.apply_bandpass(x32.astype(np.float64), pp.bandpass_sos(cfg), axis=0)
    wins = pp.sliding_windows(filtered.astype(np.float32), cfg.window, HOP)
    info = TensorInfo("ecg", 0, (1, cfg.window, len(cfg.leads)), np.int8, scale, zp)
    return quantize_array(pp.normalise_window(wins, cfg), info)


def compare(build, x32, cfg, scale, zp):
    ref = python_windows(x32, cfg, scale, zp)
    got = fw.run_host(build, x32, hop=HOP)
    assert len(got.starts) == len(ref)
    assert list(got.starts) == list(range(0, HOP * len(ref), HOP))
    return np.abs(got.windows.astype(np.int16) - ref.astype(np.int16))


def test_fixture_filter_is_the_python_filter(setup):
    _, cfg, _, _ = setup
    text = (FIXTURE / "model_settings.h").read_text()
    rows = text.split("kSos[kNumSos][6] = {")[1].split("};")[0]
    values = [float(v.strip().rstrip("f")) for v in rows.replace("{", " ").replace("}", " ").split(",")
              if v.strip()]
    np.testing.assert_allclose(np.array(values).reshape(-1, 6), pp.bandpass_sos(cfg), rtol=1e-7, atol=1e-9)


def test_real_records_match_python_within_one_lsb(setup):
    build, cfg, scale, zp = setup
    diffs, used, skipped = [], [], []
    for hea in sorted(SAMPLES.rglob("*.hea")):
        try:
            rec = read_challenge_record(hea, require_labels=False)
            pp.check_record(rec, cfg)
            x = pp.to_canonical(rec, LEADS)
        except RecordError as err:
            skipped.append(str(err))
            continue
        x32 = pp.resample(x, rec.fs, cfg.fs, axis=1).T[:MAX_SAMPLES].astype(np.float32)
        if len(x32) < cfg.window:
            skipped.append(f"{rec.name}: shorter than one window")
            continue
        diffs.append(compare(build, np.ascontiguousarray(x32), cfg, scale, zp).ravel())
        used.append(rec.name)
    d = np.concatenate(diffs)
    exact = float(np.mean(d == 0))
    print(f"\nparity on {len(used)} real records ({len(skipped)} skipped), {d.size} int8 values: "
          f"exact {exact:.6%}, max diff {int(d.max())} LSB")
    assert len(used) >= 20
    assert int(d.max()) <= 1
    assert exact >= 0.999


def test_synthetic_default_matches_python_within_one_lsb(setup):
    from lrh_tflm.data.synthetic import generate_record

    build, cfg, scale, zp = setup
    synth = SynthConfig()
    diffs = []
    for i, labels in enumerate([("426783006",), ("164889003",), ("270492004", "59931005")]):
        signal, _, _ = generate_record(np.random.default_rng(i), labels, synth)
        x = pp.resample(signal[:2], synth.fs, cfg.fs, axis=1).T.astype(np.float32)  # I, II
        diffs.append(compare(build, np.ascontiguousarray(x), cfg, scale, zp).ravel())
    d = np.concatenate(diffs)
    exact = float(np.mean(d == 0))
    print(f"\nparity on synthetic records: {d.size} int8 values, exact {exact:.6%}, "
          f"max diff {int(d.max())} LSB")
    assert int(d.max()) <= 1
    assert exact >= 0.999


def test_cpp_windows_run_in_tflm_like_python_windows(setup):
    """The C++ windows through the TFLM host runtime give the Python windows' logits."""
    import hashlib

    from lrh_tflm.device.codegen import parse_c_array
    from lrh_tflm.tflite.runtime import make_runner

    build, cfg, scale, zp = setup
    blob = parse_c_array((FIXTURE / "model_data.cc").read_text())
    assert f'kModelSha256[] = "{hashlib.sha256(blob).hexdigest()}"' in (FIXTURE / "model_data.h").read_text()
    runner = make_runner(blob, "tflm", arena_size=int(fw.settings_value(FIXTURE, "kArenaBytes")))
    # What the sketch asserts in setup(): the tensor's quantisation is the header's.
    assert runner.ecg.zero_point == zp and np.isclose(runner.ecg.scale, scale, rtol=1e-6)
    demo = runner.quantize_demo(np.zeros((1, 5), np.float32))
    worst, n = 0, 0
    for hea in sorted(SAMPLES.rglob("*.hea"))[:6]:
        rec = read_challenge_record(hea, require_labels=False)
        x = pp.resample(pp.to_canonical(rec, LEADS), rec.fs, cfg.fs, axis=1).T[:MAX_SAMPLES]
        x32 = np.ascontiguousarray(x.astype(np.float32))
        got = fw.run_host(build, x32, hop=HOP).windows
        ref = python_windows(x32, cfg, scale, zp)
        for a, b in zip(got, ref):
            out_a = runner.run(a, demo).astype(int)
            out_b = runner.run(b, demo).astype(int)
            worst = max(worst, int(np.abs(out_a - out_b).max()))
            n += 1
    print(f"\nTFLM logits, C++ vs Python windows: {n} windows, max diff {worst} LSB")
    assert n >= 6 and worst <= 2
