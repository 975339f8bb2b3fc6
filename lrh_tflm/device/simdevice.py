"""A simulated board on a pseudo-terminal: the real C++ core, TFLM on the host, the sketch's output.

:class:`SimulatedDevice` opens a pty pair (``os.openpty``); its slave path (``/dev/pts/N``)
is a serial port any client — pyserial, ``lrh-tflm stream``, a terminal — can open.  It
behaves like the sketch (``firmware/lrh_ecg/lrh_ecg.ino``) in replay mode:

* it prints the start-up ``{"hello": …}`` line;
* the bytes it receives go, unchanged, into the compiled firmware core (``lrh_host
  --frames``, built by :func:`lrh_tflm.firmware.build_host`), whose frame decoder and
  preprocessing produce the int8 windows — so the simulation runs the firmware's code, not a
  re-implementation;
* each window runs through the TFLite Micro host runtime (the ``tflite-micro`` wheel, same
  kernels as the MCU), then the sketch's post-processing (dequantise, sigmoid, per-class
  threshold, 2-of-3 smoothing) and its JSON line go back over the pty.

Why there is also a Python frame decoder (:class:`FrameMirror`, the receiver rules of
``firmware/PROTOCOL.md``): ``lrh_host`` reads its input with ``fread`` in 256-byte blocks and
reports the frame counters only at exit, but a live device must answer every window as soon
as it is complete and put the cumulative ``missed`` count in it.  The mirror tells the device
(1) where a frame ends, so it can push the bytes plus 256 bytes of inter-frame filler (which
the decoder skips while hunting for sync) through ``fread``; (2) how many windows those bytes
complete and at which stream index, so each ``W`` line the core prints is matched to its
``missed`` count.  The core's window starts and its final counters are checked against the
mirror; any disagreement is recorded in :attr:`SimulatedDevice.errors`.

Library code: no globals, no environment; every wait has a timeout.
"""
from __future__ import annotations

import hashlib
import json
import os
import queue
import re
import select
import shutil
import struct
import subprocess
import threading
import time
import tty
from dataclasses import dataclass, field
from pathlib import Path
from typing import Sequence

import numpy as np

from lrh_tflm import firmware as fw

#: Inter-frame filler pushed after each complete frame so ``fread`` hands the frame to the core.
_FILLER = bytes(256)


class DeviceError(RuntimeError):
    """The simulated device could not start (missing tool, model/settings mismatch)."""


# --------------------------------------------------------------------- firmware arithmetic


def decide(logits_q: np.ndarray, scale: float, zero_point: int,
           thresholds: Sequence[float]) -> tuple[np.ndarray, int]:
    """The sketch's ``lrh::Decide``: int8 logits → sigmoid probabilities and a decision mask.

    Computed in float32 like the firmware: ``p = sigmoid((q - zp) · scale)``, class ``c`` is
    decided when ``p[c] >= thresholds[c]``.

    Returns
    -------
    (probabilities, mask)
        float32 ``(C,)`` and the bitmask (bit ``c`` = class ``c``).
    """
    x = (np.asarray(logits_q, np.int32).reshape(-1) - int(zero_point)).astype(np.float32) \
        * np.float32(scale)
    with np.errstate(over="ignore"):
        # Split by sign so exp never overflows (as the C++ Sigmoid does).
        e = np.exp(-np.abs(x)).astype(np.float32)
    p = np.where(x >= 0, np.float32(1) / (np.float32(1) + e), e / (np.float32(1) + e)).astype(np.float32)
    on = p >= np.asarray(thresholds, np.float32)
    return p, int(sum(1 << c for c in np.flatnonzero(on)))


class KOfNSmoother:
    """The sketch's ``lrh::KOfNSmoother``: a class is reported when decided in ``k`` of the last ``n`` windows."""

    def __init__(self, k: int, n: int, n_classes: int):
        self.n = min(max(int(n), 1), 32)
        self.k = min(max(int(k), 1), self.n)
        self.n_classes = int(n_classes)
        self.reset()

    def reset(self) -> None:
        """Forget the history (replay reset)."""
        self._history = [0] * self.n_classes

    def update(self, mask: int) -> int:
        """Push one window's decision mask; return the smoothed mask."""
        keep = (1 << self.n) - 1
        out = 0
        for c in range(self.n_classes):
            self._history[c] = ((self._history[c] << 1) | ((mask >> c) & 1)) & keep
            if bin(self._history[c]).count("1") >= self.k:
                out |= 1 << c
        return out


def format_fixed(v: float, decimals: int) -> str:
    """``lrh::JsonWriter::fixed``: round half away from zero, ``null`` for NaN/huge values."""
    v = float(np.float32(v))
    if v != v or abs(v) > 4e9:
        return "null"
    scale = 10 ** decimals
    total = int(abs(v) * scale + 0.5)
    if total > 0xFFFFFFFF:
        return "null"
    sign = "-" if v < 0 and total else ""
    whole, frac = divmod(total, scale)
    return f"{sign}{whole}." + f"{frac:0{decimals}d}" if decimals else f"{sign}{whole}"


def window_json(*, t_ms: int, start: int, probs: Sequence[float], classes: Sequence[str],
                raw_mask: int, mask: int, infer_us: int, lead_off: int, sat: int, n_leads: int,
                overruns: int, missed: int) -> str:
    """One window line exactly as ``lrh::FormatWindowJson`` writes it (with the newline)."""
    def leads(bits):
        return "[" + ",".join("1" if (bits >> i) & 1 else "0" for i in range(n_leads)) + "]"

    p = ",".join(f"{json.dumps(c)}:{format_fixed(v, 3)}" for c, v in zip(classes, probs))
    dec = ",".join(json.dumps(c) for i, c in enumerate(classes) if (mask >> i) & 1)
    return (f'{{"t_ms":{t_ms},"start":{start},"p":{{{p}}},"dec":[{dec}],"raw_mask":{raw_mask},'
            f'"mask":{mask},"infer_us":{infer_us},"lead_off":{leads(lead_off)},"sat":{leads(sat)},'
            f'"overruns":{overruns},"missed":{missed}}}\n')


# --------------------------------------------------------------------------- frame mirror


@dataclass
class FrameStats:
    """Receiver counters of PROTOCOL.md (the names ``lrh_host`` prints)."""

    frames_ok: int = 0
    bad_crc: int = 0
    malformed: int = 0
    out_of_order: int = 0
    lost: int = 0

    def as_dict(self) -> dict:
        return dict(frames_ok=self.frames_ok, bad_crc=self.bad_crc, malformed=self.malformed,
                    out_of_order=self.out_of_order, lost=self.lost)


class FrameMirror:
    """The firmware's ``FrameDecoder`` state machine in Python (PROTOCOL.md, receiver rules).

    Also counts samples since the last reset frame and predicts, like the firmware's
    windower, which samples complete a window (first at ``window`` samples, then every
    ``hop``).
    """

    def __init__(self, n_leads: int, window: int, hop: int):
        self.n_leads, self.window, self.hop = int(n_leads), int(window), int(hop)
        self.stats = FrameStats()
        self._state = "sync0"
        self._buf = bytearray()
        self._need = 0
        self._len = 0
        self._expected: int | None = None
        self.count = 0      # samples since reset
        self._since = 0

    @property
    def idle(self) -> bool:
        """True between frames (hunting for sync with no partial sync byte)."""
        return self._state == "sync0"

    def feed(self, byte: int) -> list[tuple[int, int]] | None:
        """Feed one byte; return ``None`` unless a frame completed, else the windows it
        completed as ``(start, lost_so_far)`` pairs (possibly empty).  A reset frame returns
        ``[(-1, lost)]`` first so the caller can reset its smoother."""
        st = self._state
        if st == "sync0":
            if byte == 0xA5:
                self._state = "sync1"
            return None
        if st == "sync1":
            if byte == 0x5A:
                self._state, self._buf, self._need = "header", bytearray(), 6
            elif byte != 0xA5:
                self._state = "sync0"
            return None
        self._buf.append(byte)
        if len(self._buf) < self._need:
            return None
        if st == "header":
            ver, ftype, _seq, length = struct.unpack("<BBHH", bytes(self._buf))
            if ver != fw.PROTOCOL_VERSION or length > fw.FRAME_MAX_PAYLOAD or ftype not in (
                    fw.FRAME_SAMPLES_MICROVOLTS, fw.FRAME_SAMPLES_COUNTS, fw.FRAME_RESET):
                return self._drop("malformed")
            self._len = length
            self._state = "payload" if length else "crc"
            self._need += length if length else 2
            return None
        if st == "payload":
            self._state = "crc"
            self._need += 2
            return None
        return self._finish()

    def _drop(self, counter: str) -> list:
        setattr(self.stats, counter, getattr(self.stats, counter) + 1)
        self._state = "sync0"
        return []

    def _finish(self) -> list:
        body = bytes(self._buf[:6 + self._len])
        (crc,) = struct.unpack("<H", bytes(self._buf[6 + self._len:8 + self._len]))
        if fw.crc16_ccitt_false(body) != crc:
            return self._drop("bad_crc")
        _ver, ftype, seq, length = struct.unpack("<BBHH", body[:6])
        payload = body[6:]
        if ftype == fw.FRAME_RESET:
            if length:
                return self._drop("malformed")
            self._state = "sync0"
            self._expected = (seq + 1) & 0xFFFF
            self.stats.frames_ok += 1
            self.count = self._since = 0
            return [(-1, self.stats.lost)]
        n = self.n_leads
        if length < 3 or payload[0] != n or (length - 1) % (2 * n):
            return self._drop("malformed")
        if self._expected is not None:
            ahead = ((seq - self._expected + 0x8000) & 0xFFFF) - 0x8000  # signed 16-bit distance
            if ahead < 0:
                return self._drop("out_of_order")
            self.stats.lost += ahead
        self._expected = (seq + 1) & 0xFFFF
        self._state = "sync0"
        self.stats.frames_ok += 1
        out = []
        for _ in range((length - 1) // (2 * n)):
            self.count += 1
            self._since += 1
            if self.count >= self.window and (self.count == self.window or self._since >= self.hop):
                self._since = 0
                out.append((self.count - self.window, self.stats.lost))
        return out


# ------------------------------------------------------------------------ device settings


def _parse_array(text: str) -> list[str]:
    inner = text.strip()
    if not (inner.startswith("{") and inner.endswith("}")):
        raise DeviceError(f"expected a C array, got {text[:60]!r}")
    return [v.strip() for v in inner[1:-1].split(",") if v.strip()]


@dataclass(frozen=True)
class DeviceSettings:
    """What the firmware knows about its model, read from ``model_settings.h``."""

    fs: float
    window: int
    hop: int
    leads: tuple[str, ...]
    classes: tuple[str, ...]
    thresholds: tuple[float, ...]
    output_scale: float
    output_zero_point: int
    demographics_default: tuple[float, ...]
    has_demographics: bool
    arena_bytes: int

    @classmethod
    def from_header(cls, settings_dir: Path) -> "DeviceSettings":
        """Parse the generated ``model_settings.h`` in ``settings_dir``."""
        text = (Path(settings_dir) / "model_settings.h").read_text()

        def val(name):
            # Arrays carry their dimensions before the '=' (kLeadNames[kNumLeads] = {...}).
            m = re.search(rf"\b{name}(?:\[[^\]]*\])*\s*=\s*([^;]+);", text)
            if not m:
                raise DeviceError(f"{name} not found in {settings_dir}/model_settings.h")
            return m.group(1).strip()

        def num(name):
            return float(val(name).rstrip("f"))

        def strings(name):
            return tuple(json.loads(s) for s in _parse_array(val(name)))

        return cls(fs=num("kSampleRateHz"), window=int(val("kWindowSamples")),
                   hop=int(val("kHopSamples")), leads=strings("kLeadNames"),
                   classes=strings("kClassAbbrev"),
                   thresholds=tuple(float(v.rstrip("f")) for v in _parse_array(val("kThresholds"))),
                   output_scale=num("kOutputScale"), output_zero_point=int(val("kOutputZeroPoint")),
                   demographics_default=tuple(float(v.rstrip("f")) for v in
                                              _parse_array(val("kDemographicsDefault"))),
                   has_demographics=val("kHasDemographics") == "true",
                   arena_bytes=int(val("kArenaBytes")))


# --------------------------------------------------------------------------------- device


@dataclass
class DeviceReport:
    """What the device did, for tests and for the user.

    Attributes
    ----------
    stats
        Frame counters of the Python mirror (PROTOCOL.md names).
    core_summary
        The ``S`` line of ``lrh_host`` (available after :meth:`SimulatedDevice.close`).
    windows
        Window lines written.
    errors
        Internal inconsistencies (core vs mirror) or failures; empty when all is well.
    """

    stats: FrameStats
    core_summary: dict = field(default_factory=dict)
    windows: int = 0
    errors: list = field(default_factory=list)


class SimulatedDevice:
    """A board on a pseudo-terminal (see the module docstring).

    Parameters
    ----------
    build
        A host build (:func:`lrh_tflm.firmware.build_host`) for the model's settings.
    tflite_bytes
        The int8 model the "board" runs (the one ``model_data.cc`` would hold).
    hop
        Hop between windows (default ``kHopSamples`` of the build's settings).
    smooth
        ``(k, n)`` of the sketch's smoothing (2 of 3).
    timeout_s
        Longest wait for the core to print a window it owes.
    settings
        Override of what ``model_settings.h`` says (e.g. other thresholds: post-processing
        runs in Python, so they need no rebuild); default read from the build's header.

    Use as a context manager; :attr:`port` is the path a client opens.
    """

    def __init__(self, build: fw.HostBuild, tflite_bytes: bytes, *, hop: int | None = None,
                 smooth: tuple[int, int] = (2, 3), timeout_s: float = 10.0,
                 settings: DeviceSettings | None = None):
        from lrh_tflm.data.preprocess import quantise
        from lrh_tflm.interpreters import make_runner

        if shutil.which("stdbuf") is None:
            raise DeviceError("`stdbuf` (coreutils) is needed to line-buffer lrh_host's output")
        if not Path(build.host).is_file():
            raise DeviceError(f"{build.host} not found; build it with lrh_tflm.firmware.build_host")
        self.build = build
        self.settings = settings or DeviceSettings.from_header(build.settings_dir)
        s = self.settings
        self.hop = int(hop or s.hop)
        self.sha256 = hashlib.sha256(tflite_bytes).hexdigest()
        self.runner = make_runner(tflite_bytes, "tflm", arena_size=s.arena_bytes)
        ecg = self.runner.ecg
        if tuple(ecg.shape[-2:]) != (s.window, len(s.leads)) or ecg.dtype is not np.int8:
            raise DeviceError(f"model input {list(ecg.shape)} {np.dtype(ecg.dtype).name} is not the "
                              f"int8 [.., {s.window}, {len(s.leads)}] of model_settings.h")
        out = self.runner.output
        if out.zero_point != s.output_zero_point or not np.isclose(out.scale, s.output_scale, rtol=1e-6):
            raise DeviceError("model output quantisation differs from model_settings.h")
        if (self.runner.demo is not None) != s.has_demographics:
            raise DeviceError("demographics input does not match model_settings.h")
        self._demo_q = None if self.runner.demo is None else quantise(
            np.asarray(s.demographics_default, np.float32), self.runner.demo.scale,
            self.runner.demo.zero_point)
        self._smoother = KOfNSmoother(*smooth, n_classes=len(s.classes))
        self._mirror = FrameMirror(len(s.leads), s.window, self.hop)
        self.report = DeviceReport(stats=self._mirror.stats)
        self._master = self._slave = -1
        self.port = ""
        self._proc: subprocess.Popen | None = None
        self._lines: queue.Queue = queue.Queue()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._timeout = float(timeout_s)
        self._t0 = time.monotonic()

    # -- life cycle --
    def start(self) -> "SimulatedDevice":
        """Open the pty, start the core and the device loop, print the hello line."""
        self._master, self._slave = os.openpty()
        # Raw line discipline: frames are binary (no echo, no CR/LF translation).
        tty.setraw(self._slave)
        tty.setraw(self._master)
        os.set_blocking(self._master, False)
        self.port = os.ttyname(self._slave)
        args = ["stdbuf", "-oL", str(self.build.host), "--frames", "--hop", str(self.hop)]
        self._proc = subprocess.Popen(args, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                      stderr=subprocess.PIPE)
        threading.Thread(target=self._read_core, daemon=True).start()
        self._t0 = time.monotonic()
        self._write(self._hello())
        self._thread = threading.Thread(target=self._loop, daemon=True)
        self._thread.start()
        return self

    def close(self) -> DeviceReport:
        """Stop the loop, let the core print its counters, compare them with the mirror."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=self._timeout)
        if self._proc is not None:
            try:
                self._proc.stdin.close()
            except OSError:
                pass
            try:
                self._proc.wait(timeout=self._timeout)
            except subprocess.TimeoutExpired:
                self._proc.kill()
                self._proc.wait()
                self.report.errors.append("lrh_host did not exit")
            self._drain_summary()
            self._proc = None
        for fd in (self._master, self._slave):
            if fd >= 0:
                os.close(fd)
        self._master = self._slave = -1
        return self.report

    def __enter__(self) -> "SimulatedDevice":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.close()

    # -- internals --
    def _hello(self) -> str:
        s = self.settings
        leads = ",".join(json.dumps(x) for x in s.leads)
        classes = ",".join(json.dumps(x) for x in s.classes)
        return (f'{{"hello":"lrh_ecg","model_sha256":"{self.sha256}","fs":{format_fixed(s.fs, 2)},'
                f'"window":{s.window},"hop":{self.hop},"leads":[{leads}],"classes":[{classes}],'
                f'"arena_used":{self.runner.arena_size},"arena":{s.arena_bytes}}}\n')

    def _write(self, text: str) -> None:
        # Bounded: a client that stopped reading must not hang the device.
        data = text.encode()
        deadline = time.monotonic() + self._timeout
        while data:
            _, ready, _ = select.select([], [self._master], [], max(0.0, deadline - time.monotonic()))
            if not ready:
                raise RuntimeError("the client stopped reading the port (output buffer full)")
            try:
                data = data[os.write(self._master, data):]
            except BlockingIOError:
                continue

    def _read_core(self) -> None:
        for line in self._proc.stdout:
            self._lines.put(line.decode(errors="replace"))
        self._lines.put(None)

    def _drain_summary(self) -> None:
        while True:
            try:
                line = self._lines.get(timeout=self._timeout)
            except queue.Empty:
                self.report.errors.append("lrh_host printed no summary line")
                return
            if line is None:
                self.report.errors.append("lrh_host printed no summary line")
                return
            if line.startswith("S "):
                self.report.core_summary = {k: int(v) for k, v in re.findall(r"(\w+)=(\d+)", line)}
                core = {k: self.report.core_summary.get(k) for k in self.report.stats.as_dict()}
                if core != self.report.stats.as_dict():
                    self.report.errors.append(f"core counters {core} differ from the mirror's "
                                              f"{self.report.stats.as_dict()}")
                return
            if line.startswith("W "):
                self.report.errors.append("lrh_host printed a window nobody expected")

    def _loop(self) -> None:
        pending = bytearray()
        owed: list[tuple[int, int]] = []
        try:
            while not self._stop.is_set():
                ready, _, _ = select.select([self._master], [], [], 0.05)
                if not ready:
                    continue
                try:
                    data = os.read(self._master, 4096)
                except OSError:
                    continue  # no client on the slave side at the moment
                safe = 0
                for byte in data:
                    pending.append(byte)
                    done = self._mirror.feed(byte)
                    if done:
                        owed.extend(done)
                    if self._mirror.idle:
                        safe = len(pending)
                if safe:
                    self._proc.stdin.write(bytes(pending[:safe]) + _FILLER)
                    self._proc.stdin.flush()
                    del pending[:safe]
                    for start, lost in owed:
                        self._answer(start, lost)
                    owed.clear()
        except (OSError, ValueError, RuntimeError) as err:
            # A device never crashes its caller; the failure is reported instead.
            self.report.errors.append(f"device loop stopped: {err}")

    def _answer(self, start: int, lost: int) -> None:
        s = self.settings
        if start < 0:       # reset frame
            self._smoother.reset()
            return
        try:
            line = self._lines.get(timeout=self._timeout)
        except queue.Empty:
            raise RuntimeError(f"lrh_host printed no window for start {start} "
                               f"within {self._timeout:g} s") from None
        if line is None or not line.startswith("W "):
            raise RuntimeError(f"lrh_host: expected a window line, got {str(line)[:60]!r}")
        parts = line.split()
        if int(parts[1]) != start:
            self.report.errors.append(f"core window start {parts[1]} != mirror's {start}")
        window = np.array(parts[4:], dtype=np.int16).astype(np.int8).reshape(s.window, len(s.leads))
        t0 = time.perf_counter()
        logits = self.runner.run(window, self._demo_q)
        infer_us = int((time.perf_counter() - t0) * 1e6)
        probs, raw = decide(logits, s.output_scale, s.output_zero_point, s.thresholds)
        smoothed = self._smoother.update(raw)
        self._write(window_json(
            t_ms=int((time.monotonic() - self._t0) * 1000), start=int(parts[1]), probs=probs,
            classes=s.classes, raw_mask=raw, mask=smoothed, infer_us=infer_us,
            lead_off=int(parts[2]), sat=int(parts[3]), n_leads=len(s.leads), overruns=0,
            missed=lost))
        self.report.windows += 1


__all__ = ["SimulatedDevice", "DeviceSettings", "DeviceReport", "DeviceError", "FrameMirror",
           "FrameStats", "KOfNSmoother", "decide", "format_fixed", "window_json"]
