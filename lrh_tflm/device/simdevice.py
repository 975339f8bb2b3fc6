"""A simulated board on a pseudo-terminal: the real C++ core, TFLM on the host, the sketch's output.

:class:`SimulatedDevice` opens a pty pair (``os.openpty``); its slave path (``/dev/pts/N``)
is a serial port any client — pyserial, ``lrh-tflm stream``, a terminal — can open.  It
behaves like the sketch (``firmware/lrh_ecg/lrh_ecg.ino``) in replay mode:

* it prints the start-up ``{"hello": …}`` line;
* the bytes it receives go, unchanged, into the compiled firmware core (``lrh_host
  --frames``, built by :func:`lrh_tflm.device.hostbuild.build_host`), whose frame decoder and
  preprocessing produce the int8 windows — so the simulation runs the firmware's code, not a
  re-implementation;
* each window runs through the TFLite Micro host runtime (the ``tflite-micro`` wheel, same
  kernels as the MCU), then the sketch's post-processing (dequantise, sigmoid, per-class
  threshold, k-of-n smoothing with ``kSmoothK``/``kSmoothN``) and its JSON line go back over
  the pty.

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
import subprocess
import threading
import time
import tty
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from lrh_tflm.device.hostbuild import DeviceSettings, HostBuild
from lrh_tflm.device.protocol import (
    FrameMirror,
    FrameStats,
    KOfNSmoother,
    decide,
    format_fixed,
    window_json,
)
from lrh_tflm.tflite.runtime import make_runner, quantize_array

#: Inter-frame filler pushed after each complete frame so ``fread`` hands the frame to the core.
_FILLER = bytes(256)


class DeviceError(RuntimeError):
    """The simulated device could not start (missing tool, model/settings mismatch)."""


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
        A host build (:func:`lrh_tflm.device.hostbuild.build_host`) for the model's settings.
    tflite_bytes
        The int8 model the "board" runs (the one ``model_data.cc`` would hold).
    hop
        Hop between windows (default ``kHopSamples`` of the build's settings).
    smooth
        ``(k, n)`` of the sketch's smoothing; default ``kSmoothK``/``kSmoothN`` of the
        build's ``model_settings.h`` (:attr:`DeviceSettings.smooth`).
    timeout_s
        Longest wait for the core to print a window it owes.
    settings
        Override of what ``model_settings.h`` says (e.g. other thresholds: post-processing
        runs in Python, so they need no rebuild); default read from the build's header.

    Use as a context manager; :attr:`port` is the path a client opens.
    """

    def __init__(self, build: HostBuild, tflite_bytes: bytes, *, hop: int | None = None,
                 smooth: tuple[int, int] | None = None, timeout_s: float = 10.0,
                 settings: DeviceSettings | None = None):
        if shutil.which("stdbuf") is None:
            raise DeviceError("`stdbuf` (coreutils) is needed to line-buffer lrh_host's output")
        if not Path(build.host).is_file():
            raise DeviceError(f"{build.host} not found; build it with lrh_tflm.device.hostbuild.build_host")
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
        self._demo_q = None if self.runner.demo is None else quantize_array(
            np.asarray(s.demographics_default, np.float32), self.runner.demo)
        self._smoother = KOfNSmoother(*(smooth or s.smooth), n_classes=len(s.classes))
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


__all__ = ["SimulatedDevice", "DeviceReport", "DeviceError"]
