"""Firmware core on the host: the C++ unit tests, the host driver and the replay codec."""
import shutil

import numpy as np
import pytest

from lrh_tflm.device import hostbuild as fw
from lrh_tflm.device import protocol

pytestmark = pytest.mark.skipif(shutil.which("g++") is None or shutil.which("make") is None,
                                reason="g++/make not installed: the host firmware build needs them")


@pytest.fixture(scope="module")
def build():
    return fw.build_host(fw.FIRMWARE_DIR / "tests" / "fixture")


def test_core_unit_tests_pass(build):
    out = fw.run_core_tests(build)
    assert "PASSED" in out and " 0 failures" in out
    n_checks = int(out.split("PASSED: ")[1].split(" checks")[0])
    assert n_checks > 100


def test_host_windows_follow_hop_and_layout(build):
    window, n_leads = 1024, 2
    rng = np.random.default_rng(1)
    x = rng.normal(scale=0.3, size=(window + 3 * 100 + 7, n_leads)).astype(np.float32)
    out = fw.run_host(build, x, hop=100)
    assert list(out.starts) == [0, 100, 200, 300]
    assert out.windows.shape == (4, window, n_leads)
    assert out.summary["samples"] == len(x) and out.summary["windows"] == 4
    # Adding a large constant to one lead changes nothing after band-pass + z-score... except
    # the filter transient; a scaled copy of lead 0 must quantise exactly like lead 0.
    y = np.stack([x[:, 0], 3.0 * x[:, 0]], axis=1)
    both = fw.run_host(build, y, hop=100)
    np.testing.assert_allclose(both.windows[..., 0], both.windows[..., 1], atol=1)


def test_host_counts_flag_saturation(build):
    x = np.full((1024, 2), 2048, dtype=np.int64)
    x[:, 0] += (200 * np.sin(np.arange(1024) / 5)).astype(np.int64)
    x[:, 1] += (200 * np.cos(np.arange(1024) / 7)).astype(np.int64)
    x[500, 1] = 4095
    out = fw.run_host(build, x, counts=True)
    assert out.saturated.tolist() == [0b10] and out.lead_off.tolist() == [0]


def test_replay_frames_match_text_input_and_count_errors(build):
    rng = np.random.default_rng(2)
    uv = np.round(rng.normal(scale=400, size=(1400, 2))).astype(np.int16)
    text = fw.run_host(build, uv.astype(np.float32) / 1000.0)
    stream = bytearray(protocol.encode_sample_frames(uv, samples_per_frame=25))
    # Corrupt one frame's CRC, inject a duplicate frame and garbage: all counted, none crash.
    frame_len = 8 + 1 + 2 * 25 * 2 + 2
    reset_len = 8 + 2
    dup = bytes(stream[reset_len + 3 * frame_len:reset_len + 4 * frame_len])
    stream[reset_len + 10 * frame_len - 1] ^= 0xFF
    broken = bytes(stream[:reset_len + 20 * frame_len]) + dup + b"\x00\xa5\x17" + bytes(
        stream[reset_len + 20 * frame_len:])
    replay = fw.run_host_frames(build, broken)
    assert replay.summary["bad_crc"] == 1
    assert replay.summary["out_of_order"] == 1
    assert replay.summary["lost"] == 1  # the frame after the corrupted one jumps by 2
    clean = fw.run_host_frames(build, bytes(protocol.encode_sample_frames(uv, samples_per_frame=25)))
    assert clean.summary["frames_ok"] == 1 + 1400 // 25
    np.testing.assert_array_equal(clean.windows, text.windows)


def test_python_crc_matches_catalogue_check_value():
    assert protocol.crc16_ccitt_false(b"123456789") == 0x29B1
    frame = protocol.encode_frame(protocol.FRAME_RESET, 0x1234)
    assert frame[:2] == b"\xa5\x5a" and frame[4:6] == b"\x34\x12" and len(frame) == 10


def test_host_rejects_bad_input(build):
    with pytest.raises(fw.FirmwareError, match=r"\(n, 2\)"):
        fw.run_host(build, np.zeros((10, 3), np.float32))
    with pytest.raises(fw.FirmwareError, match="NaN"):
        fw.run_host(build, np.full((10, 2), np.nan, np.float32))
    import subprocess

    proc = subprocess.run([str(build.host)], input=b"0.1 0.2\n0.3\n", capture_output=True)
    assert proc.returncode == 2 and b"line 2" in proc.stderr and b"expected 2 values" in proc.stderr


def test_protocol_doc_examples_are_what_the_codec_sends():
    import struct

    doc = (fw.FIRMWARE_DIR / "PROTOCOL.md").read_text()
    reset = protocol.encode_frame(protocol.FRAME_RESET, 0x1234).hex(" ").upper()
    samples = protocol.encode_frame(protocol.FRAME_SAMPLES_MICROVOLTS, 1,
                              bytes([2]) + struct.pack("<hh", -5, 1000)).hex(" ").upper()
    assert f"`{reset}`" in doc and f"`{samples}`" in doc
