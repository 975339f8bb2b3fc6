"""``lrh-tflm stream`` against a simulated board on a pseudo-terminal.

The simulated device runs the compiled firmware core (``lrh_host --frames``, built with g++
against the fixture model's settings) on the bytes it receives, the TFLM host runtime on the
core's int8 windows and the sketch's post-processing; the host side runs the Python
preprocessing and the same model.  Every window's decisions must agree; corrupted frames
must be counted by the device (mirror and C++ core alike) and change nothing else.
"""
import json
import os
import select
import shutil
import threading
import tty

import numpy as np
import pytest
from click.testing import CliRunner

from lrh_tflm.cli import cli
from lrh_tflm.device import hostbuild as fw
from lrh_tflm.device import protocol
from lrh_tflm.device import stream as st
from lrh_tflm.device.codegen import parse_c_array
from lrh_tflm.device.hostbuild import DeviceSettings
from lrh_tflm.device.protocol import FrameMirror, KOfNSmoother, format_fixed, window_json
from lrh_tflm.device.simdevice import SimulatedDevice
from lrh_tflm.infer import read_record

needs_gpp = pytest.mark.skipif(shutil.which("g++") is None or shutil.which("make") is None,
                               reason="g++/make not installed: the simulated device runs the "
                                      "firmware core built with them")

FIXTURE = fw.FIRMWARE_DIR / "tests" / "fixture"
from conftest import SAMPLES_DIR  # ../shared beside the checkout

RECORD = SAMPLES_DIR / "cinc2020" / "Q0017"  # 58 s at 500 Hz → 25 windows
HOP = 250


@pytest.fixture(scope="module")
def fixture_model(tmp_path_factory):
    """The fixture model as .tflite + sidecar, with the thresholds its model_settings.h carries.

    Why not thresholds inside the probabilities' range (so decisions vary per window): the
    untrained fixture's logits span only ~10 output LSB over the whole record, so any such
    threshold has windows 1 LSB away, where the firmware's float32 filter and the host's
    float64 filter (≤ 1 LSB apart on 0.02 % of inputs) legitimately decide differently.
    """
    blob = parse_c_array((FIXTURE / "model_data.cc").read_text())
    n_classes = int(fw.settings_value(FIXTURE, "kNumClasses"))
    header = DeviceSettings.from_header(FIXTURE)
    sidecar = {"leads": list(header.leads), "fs": header.fs, "window": header.window, "hop": HOP,
               "classes": {"classes": [str(100000000 + i) for i in range(n_classes)],
                           "abbreviations": list(header.classes)},
               "thresholds": list(header.thresholds)}
    folder = tmp_path_factory.mktemp("model")
    (folder / "m.tflite").write_bytes(blob)
    (folder / "m.json").write_text(json.dumps(sidecar))
    samples, _ = st.record_samples_uv(read_record(RECORD), st.HostReference(blob, sidecar).cfg)
    return {"blob": blob, "sidecar": sidecar, "path": folder / "m.tflite", "samples": samples}


@pytest.fixture(scope="module")
def build():
    if shutil.which("g++") is None or shutil.which("make") is None:
        pytest.skip("g++/make not installed: the simulated device runs the firmware core")
    return fw.build_host(FIXTURE)


def device(build, fixture_model, **kw):
    return SimulatedDevice(build, fixture_model["blob"], timeout_s=5, **kw)


# ------------------------------------------------------------------ pure-Python pieces


def test_format_fixed_rounds_like_the_firmware():
    assert format_fixed(0.0004, 3) == "0.000"
    assert format_fixed(0.0126, 3) == "0.013"
    assert format_fixed(0.5, 3) == "0.500"
    assert format_fixed(1.0, 3) == "1.000"
    assert format_fixed(-0.0001, 3) == "0.000"      # no "-0.000"
    assert format_fixed(-1.25, 1) == "-1.3"         # half away from zero
    assert format_fixed(125.0, 2) == "125.00"
    assert format_fixed(float("nan"), 3) == "null"


def test_window_json_round_trips_through_the_parser():
    line = window_json(t_ms=5, start=250, probs=[0.9124, 0.03], classes=["AF", "NSR"],
                       raw_mask=1, mask=1, infer_us=843, lead_off=0, sat=2, n_leads=2,
                       overruns=0, missed=3)
    assert line == ('{"t_ms":5,"start":250,"p":{"AF":0.912,"NSR":0.030},"dec":["AF"],"raw_mask":1,'
                    '"mask":1,"infer_us":843,"lead_off":[0,0],"sat":[0,1],"overruns":0,"missed":3}\n')
    kind, w = st.parse_board_line(line.encode())
    assert kind == "window" and w.start == 250 and w.dec == ["AF"] and w.missed == 3
    assert w.probs == {"AF": 0.912, "NSR": 0.03}


def test_parse_board_line_rejects_what_the_firmware_never_prints():
    assert st.parse_board_line(b"  \r") == ("empty", None)
    assert st.parse_board_line('{"hello":"lrh_ecg","hop":250}')[0] == "hello"
    assert st.parse_board_line('{"error":"arena too small"}') == ("error", "arena too small")
    for bad, why in [(b"\xff\xfe", "UTF-8"), ("garbage", "JSON"), ("[1,2]", "object"),
                     ('{"start":1}', "lacks"), ('{"start":"1","p":{},"dec":[],"raw_mask":0,'
                                                '"mask":0,"missed":0}', "integers")]:
        with pytest.raises(st.BoardLineError, match=why):
            st.parse_board_line(bad)


def test_kofn_smoother_two_of_three():
    sm = KOfNSmoother(2, 3, n_classes=2)
    assert [sm.update(m) for m in (1, 0, 1, 0, 0, 3, 2)] == [0, 0, 1, 0, 0, 0, 2]


class FakePort:
    """Serial-like: hands out preset bytes, records what is written."""

    def __init__(self, data: bytes):
        self.data = bytearray(data)
        self.written = bytearray()

    @property
    def in_waiting(self):
        return len(self.data)

    def read(self, n):
        out = bytes(self.data[:n])
        del self.data[:n]
        return out

    def write(self, b):
        self.written += b


def test_listener_counts_malformed_lines():
    good = window_json(t_ms=1, start=0, probs=[0.2], classes=["C0"], raw_mask=0, mask=0,
                       infer_us=1, lead_off=0, sat=0, n_leads=2, overruns=0, missed=0)
    port = FakePort(b"boot noise\n" + good.encode() + b'{"start":5}\n\xff\xfe\n' + b"x" * 5000)
    listener = st.BoardListener(port)
    for _ in range(10):
        listener.poll()
    s = listener.session
    assert len(s.windows) == 1 and s.windows[0].start == 0
    assert [why.split(" ")[0] for _, why in s.malformed] == ["not", "window", "not", "not"]


def test_play_frames_raises_when_the_board_never_answers():
    port = FakePort(b"")
    cfg = st.StreamConfig(speed=0, timeout_s=0.2)
    frames = st.encode_replay(np.zeros((100, 2), np.int16), cfg)
    with pytest.raises(st.StreamError, match="never answered"):
        st.play_frames(port, frames, frame_period_s=0.2, cfg=cfg, expected_windows=1)
    assert bytes(port.written) == b"".join(frames)


# -------------------------------------------------------- frame mirror vs the C++ core


@needs_gpp
def test_frame_mirror_agrees_with_the_core_on_corrupted_streams(build):
    rng = np.random.default_rng(3)
    x = (rng.normal(size=(3000, 2)) * 400).astype(np.int16)
    frames = [bytearray(f) for f in st.encode_replay(x, st.StreamConfig(samples_per_frame=40))]
    frames[5][20] ^= 0x10                                            # bad CRC
    frames.insert(12, bytearray(frames[11]))                         # duplicate: out of order
    del frames[30]                                                   # lost
    frames.insert(40, bytearray(protocol.encode_frame(protocol.FRAME_SAMPLES_MICROVOLTS, 999, b"\x03" + bytes(6))))
    frames.insert(50, bytearray(b"\xa5\x5a\x07\x01\x00\x00"))        # bad version
    frames.insert(60, bytearray(rng.integers(0, 256, 300, dtype=np.uint8).tobytes()))
    stream = b"".join(frames)
    core = fw.run_host_frames(build, stream, hop=HOP)
    mirror = FrameMirror(2, 1024, HOP)
    starts = [s for b in stream for s, _ in (mirror.feed(b) or []) if s >= 0]
    assert starts == list(core.starts)
    assert {k: core.summary[k] for k in mirror.stats.as_dict()} == mirror.stats.as_dict()
    assert mirror.stats.bad_crc >= 1 and mirror.stats.out_of_order >= 1
    assert mirror.stats.malformed >= 2 and mirror.stats.lost >= 1


# ------------------------------------------------------------- end to end over a pty


@needs_gpp
def test_stream_cli_board_decisions_equal_host_decisions(build, fixture_model):
    with device(build, fixture_model) as dev:
        res = CliRunner().invoke(cli, ["stream", str(RECORD), "--port", dev.port, "--speed", "0",
                                       "--model", str(fixture_model["path"]), "--timeout", "5",
                                       "--json"])
    assert res.exit_code == 0, res.output
    rows = [json.loads(line) for line in res.output.splitlines()]
    windows, summary = rows[:-1], rows[-1]["summary"]
    n_expected = len(st.expected_starts(len(fixture_model["samples"]), 1024, HOP))
    assert n_expected >= 20 and len(windows) == n_expected
    assert [w["start"] for w in windows] == list(range(0, HOP * n_expected, HOP))
    assert all(w["agree"] for w in windows)
    assert [w["board"]["raw_mask"] for w in windows] == [w["host"]["raw_mask"] for w in windows]
    assert [w["board"]["mask"] for w in windows] == [w["host"]["mask"] for w in windows]
    # Some classes on, and the smoothing (2 of 3) switches them on at the second window on
    # both sides: the two k-of-n histories run in step.
    assert windows[0]["board"]["raw_mask"] != 0
    assert windows[0]["board"]["mask"] == 0 and windows[1]["board"]["mask"] != 0
    assert summary["agree"] == summary["paired"] == n_expected
    assert summary["malformed_lines"] == 0 and summary["missed"] == 0
    assert dev.report.errors == [] and dev.report.windows == n_expected
    assert dev.report.core_summary["windows"] == n_expected


@needs_gpp
def test_stream_text_output_has_agreement_line(build, fixture_model):
    with device(build, fixture_model) as dev:
        res = CliRunner().invoke(cli, ["stream", str(RECORD), "--port", dev.port, "--speed", "0",
                                       "--model", str(fixture_model["path"]), "--timeout", "5"])
    assert res.exit_code == 0, res.output
    n = len(st.expected_starts(len(fixture_model["samples"]), 1024, HOP))
    assert f"agreement: {n}/{n} windows" in res.output
    assert "NO" not in res.output.split()


@needs_gpp
def test_corrupted_frames_are_counted_and_change_nothing(build, fixture_model):
    """Bad CRC, duplicate, malformed, garbage and one lost frame, sent at 20× real time."""
    samples = fixture_model["samples"][:125 * 24]
    cfg = st.StreamConfig(speed=20, samples_per_frame=25, timeout_s=5)
    frames = st.encode_replay(samples, cfg)
    lost_frame = 40                      # frames[k] carries rows (k-1)*25 … k*25 - 1
    sent = []
    for k, f in enumerate(frames):
        if k == lost_frame:
            continue
        if k == 10:
            bad = bytearray(f)
            bad[-1] ^= 0xFF
            sent.append(bytes(bad))      # bad CRC, then the good copy
        if k == 20:
            sent.append(b"\x00\x13garbage\xa5\x00")
        if k == 30:
            sent.append(protocol.encode_frame(protocol.FRAME_SAMPLES_MICROVOLTS, 30, b"\x01" + bytes(4)))  # 1 lead
        sent.append(f)
        if k == 50:
            sent.append(f)               # duplicate → out of order
    kept = np.delete(samples, np.s_[(lost_frame - 1) * 25:lost_frame * 25], axis=0)
    host = st.HostReference(fixture_model["blob"], {**fixture_model["sidecar"]})
    with device(build, fixture_model) as dev:
        port = st.open_port(dev.port, 115200)
        try:
            n = len(st.expected_starts(len(kept), 1024, HOP))
            session = st.play_frames(port, sent, frame_period_s=0.2, cfg=cfg, expected_windows=n)
        finally:
            port.close()
    report = dev.report
    assert report.errors == []
    assert report.stats.as_dict() == dict(frames_ok=len(frames) - 1, bad_crc=1, malformed=1,
                                          out_of_order=1, lost=1)
    assert {k: report.core_summary[k] for k in report.stats.as_dict()} == report.stats.as_dict()
    pairs, unpaired, missing = st.pair_windows(session, host, kept, HOP, cfg.smooth)
    assert len(pairs) == n and not unpaired and not missing
    assert all(p.raw_agree and p.smoothed_agree for p in pairs)
    assert session.windows[-1].missed == 1


def test_stream_cli_missing_port(tmp_path, fixture_model):
    res = CliRunner().invoke(cli, ["stream", str(RECORD), "--port", str(tmp_path / "ttyNONE"),
                                   "--model", str(fixture_model["path"])])
    assert res.exit_code == 1
    assert "cannot open serial port" in res.output and "Traceback" not in res.output


def test_stream_cli_silent_board_times_out_with_junk_counted(fixture_model):
    """A 'board' that only prints junk: clear timeout error naming the unreadable lines."""
    master, slave = os.openpty()
    tty.setraw(slave)
    stop = threading.Event()

    def junk():
        while not stop.wait(0.02):
            try:
                os.write(master, b"?? not json\n")
                while select.select([master], [], [], 0)[0]:
                    os.read(master, 65536)       # takes the frames, answers nothing useful
            except OSError:
                return

    t = threading.Thread(target=junk, daemon=True)
    try:
        t.start()
        res = CliRunner().invoke(cli, ["stream", str(RECORD), "--port", os.ttyname(slave),
                                       "--speed", "0", "--timeout", "0.5",
                                       "--model", str(fixture_model["path"])])
    finally:
        stop.set()
        t.join(1)
        os.close(master)
        os.close(slave)
    assert res.exit_code == 1
    assert "never answered" in res.output and "unreadable line" in res.output


def test_stream_cli_board_not_reading_write_times_out(fixture_model):
    """A port nobody reads: the writes block, and the user gets a clear error, not a hang."""
    master, slave = os.openpty()
    tty.setraw(slave)
    try:
        res = CliRunner().invoke(cli, ["stream", str(RECORD), "--port", os.ttyname(slave),
                                       "--speed", "0", "--timeout", "0.5",
                                       "--model", str(fixture_model["path"])])
    finally:
        os.close(master)
        os.close(slave)
    assert res.exit_code == 1
    assert "stopped taking data" in res.output and "Traceback" not in res.output


@needs_gpp
def test_stream_cli_without_model_reports_the_board_alone(build, fixture_model):
    if fw.default_settings_dir() != FIXTURE:
        pytest.skip("an exported model_settings.h exists; the simulated device runs the fixture")
    with device(build, fixture_model) as dev:
        res = CliRunner().invoke(cli, ["stream", str(RECORD), "--port", dev.port, "--speed", "0",
                                       "--timeout", "5"])
    n = len(st.expected_starts(len(fixture_model["samples"]), 1024, HOP))
    assert res.exit_code == 0, res.output
    assert f"board: {n} windows, missed frames 0, 0 malformed" in res.output
    assert "agreement" not in res.output
