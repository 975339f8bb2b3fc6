"""Replay a recorded ECG into a board over serial and compare its decisions with the host's.

The board (``firmware/lrh_ecg``, or :class:`lrh_tflm.device.simdevice.SimulatedDevice`) accepts the
replay frames of ``firmware/PROTOCOL.md`` in place of its ADC and answers with one JSON line
per window.  This module

1. turns a record into what the board's ADC would have delivered: the model's leads,
   resampled to the model rate, in microvolts as int16 (:func:`record_samples_uv`);
2. sends them as frames — a reset frame, then samples frames — at real time × ``speed``
   (``0`` = as fast as the link takes them) while reading the board's lines
   (:func:`play_frames`);
3. computes the host's answer for every window the board reported, from the *same* int16
   samples: the Python preprocessing (causal band-pass from the reset, z-score, int8), the
   model on a host runtime (TFLM by default, the MCU's kernels), and the sketch's
   post-processing (:class:`HostReference`);
4. pairs the two by window start (:func:`pair_windows`).

No TensorFlow is imported here; a model is loaded only when a host reference is asked for.
"""
from __future__ import annotations

import hashlib
import json
import threading
import time
from dataclasses import dataclass, field
from typing import Callable, Sequence

import numpy as np

from lrh_tflm.artifact import Sidecar
from lrh_tflm.config import PreprocessConfig
from lrh_tflm.data.preprocess import (
    DEMOGRAPHICS_DEFAULT,
    apply_bandpass,
    bandpass_sos,
    check_record,
    checked_record,
    normalise_window,
    resample,
    to_canonical,
)
from lrh_tflm.data.record import Record
from lrh_tflm.device.protocol import (
    FRAME_MAX_PAYLOAD,
    FRAME_RESET,
    KOfNSmoother,
    decide,
    encode_frame,
    encode_sample_frames,
)
from lrh_tflm.tflite.runtime import make_runner, quantize_array

#: Longest line accepted from the board; anything longer is counted as malformed.
MAX_LINE_BYTES = 4096
#: Fields every window line of the firmware carries (README.md, "What it prints").
WINDOW_FIELDS = ("start", "p", "dec", "raw_mask", "mask", "missed")


class StreamError(RuntimeError):
    """A user-facing failure: no port, a board that never answers, a model mismatch."""


class BoardLineError(ValueError):
    """One line from the board that is not what the firmware prints."""


@dataclass(frozen=True)
class StreamConfig:
    """How a record is played.

    Attributes
    ----------
    speed
        1.0 = real time, 2.0 = twice as fast, 0 = as fast as the link takes the frames.
    samples_per_frame
        Rows per samples frame (at most 127 with 2 leads; 25 = 0.2 s at 125 Hz).
    timeout_s
        Longest silence tolerated from the board once all frames are sent.
    settle_s
        Time spent reading (e.g. the board's hello line) before the first frame is sent.
    first_seq
        Sequence number of the reset frame that starts the session.
    smooth
        ``(k, n)`` of the firmware's smoothing, for the host's smoothed decisions; ``None``
        (default) takes the model's own (its sidecar's ``smoothing``, the same numbers as the
        header's ``kSmoothK``/``kSmoothN``).
    """

    speed: float = 1.0
    samples_per_frame: int = 25
    timeout_s: float = 10.0
    settle_s: float = 0.3
    first_seq: int = 0
    smooth: tuple[int, int] | None = None


# --------------------------------------------------------------------------------- signal


def record_samples_uv(record: Record, cfg: PreprocessConfig) -> tuple[np.ndarray, int]:
    """The record as the board's front end would sample it: ``(n, leads)`` int16 µV at ``cfg.fs``.

    The model's leads in the model's order (derived limb leads allowed), resampled to the
    model rate, rounded to whole microvolts.  Values beyond ±32.767 mV are clipped to the int16
    rails, which the firmware flags as saturated.

    Returns
    -------
    (samples, clipped)
        int16 array and the number of clipped values.

    Raises
    ------
    RecordError
        For records the preprocessing refuses (NaN, flat, too short, missing leads…).
    """
    # A flat lead among live ones is played as zeros, as every host path treats it.
    record, _ = checked_record(record, cfg)
    x = resample(to_canonical(record, cfg.leads), record.fs, cfg.fs, axis=1).T
    uv = np.rint(np.asarray(x, np.float64) * 1000.0)
    clipped = int(np.count_nonzero((uv < -32768) | (uv > 32767)))
    return np.ascontiguousarray(np.clip(uv, -32768, 32767).astype(np.int16)), clipped


def expected_starts(n_samples: int, window: int, hop: int) -> list[int]:
    """Window starts the firmware reports for ``n_samples`` after a reset (first at ``window``)."""
    if n_samples < window:
        return []
    return list(range(0, n_samples - window + 1, hop))


# ------------------------------------------------------------------------------ host side


class HostReference:
    """The host's decisions for windows of a replayed stream.

    Parameters
    ----------
    tflite_bytes
        The int8 model (the same one the board runs).
    sidecar
        Its sidecar (:func:`lrh_tflm.artifact.read_bundle_sidecar`): leads, fs, window, classes,
        thresholds, preprocessing.
    runtime
        ``"tflm"`` (default; the MCU's kernels), ``"litert-ref"`` or ``"litert"``.
    """

    def __init__(self, tflite_bytes: bytes, sidecar: dict, runtime: str = "tflm"):
        meta = Sidecar.from_dict(sidecar)
        self.cfg = meta.preprocessing
        self.codes, self.classes = list(meta.codes), list(meta.abbreviations)
        self.thresholds = np.asarray(meta.thresholds, np.float32)
        #: ``(k, n)`` of the board's decision smoothing (``kSmoothK``/``kSmoothN``).
        self.smooth = meta.smoothing
        self.sha256 = hashlib.sha256(tflite_bytes).hexdigest()
        self.runner = make_runner(tflite_bytes, runtime)
        ecg = self.runner.ecg
        if tuple(ecg.shape[-2:]) != (self.cfg.window, len(self.cfg.leads)) or not ecg.quantized:
            raise StreamError(f"model input {list(ecg.shape)} is not an int8 window of "
                              f"{self.cfg.window} samples × {len(self.cfg.leads)} leads (sidecar)")
        # The board knows no age or sex: it feeds the default vector, and so does the host.
        self._demo_q = None if self.runner.demo is None else quantize_array(
            np.asarray(DEMOGRAPHICS_DEFAULT, np.float32), self.runner.demo)

    def windows(self, samples_uv: np.ndarray, starts: Sequence[int]) -> np.ndarray:
        """int8 model inputs ``(n, window, leads)`` at ``starts`` of a stream that began with a reset."""
        # The firmware divides int16 µV by 1000 in float32; filter from zero state at sample 0.
        mv = np.asarray(samples_uv).astype(np.float32) / np.float32(1000)
        filtered = apply_bandpass(mv.astype(np.float64), bandpass_sos(self.cfg), axis=0).astype(np.float32)
        w = self.cfg.window
        bad = [s for s in starts if s < 0 or s + w > len(filtered)]
        if bad:
            raise StreamError(f"window start(s) {bad[:3]} lie outside the {len(filtered)} samples sent")
        if not len(starts):
            return np.zeros((0, w, len(self.cfg.leads)), np.int8)
        wins = np.stack([filtered[s:s + w] for s in starts])
        return quantize_array(normalise_window(wins, self.cfg), self.runner.ecg)

    def decide(self, samples_uv: np.ndarray, starts: Sequence[int],
               smooth: tuple[int, int] | None = None) -> tuple[np.ndarray, list[int], list[int]]:
        """Probabilities, raw masks and smoothed masks for consecutive windows at ``starts``.

        Post-processing is the firmware's (:func:`lrh_tflm.device.protocol.decide`, k-of-n
        smoothing in window order).
        """
        out = self.runner.output
        smoother = KOfNSmoother(*(smooth or self.smooth), n_classes=len(self.classes))
        probs, raw, smoothed = [], [], []
        for win in self.windows(samples_uv, starts):
            p, m = decide(self.runner.run(win, self._demo_q), out.scale, out.zero_point,
                          self.thresholds)
            probs.append(p)
            raw.append(m)
            smoothed.append(smoother.update(m))
        return np.array(probs, np.float32).reshape(-1, len(self.classes)), raw, smoothed


# ----------------------------------------------------------------------------- board side


@dataclass
class BoardWindow:
    """One window line of the board (fields as in firmware/README.md)."""

    start: int
    probs: dict
    dec: list
    raw_mask: int
    mask: int
    missed: int
    infer_us: int | None = None
    t_ms: int | None = None
    lead_off: list = field(default_factory=list)
    sat: list = field(default_factory=list)


def parse_board_line(line: bytes | str) -> tuple[str, object]:
    """Classify one line from the board.

    Returns
    -------
    (kind, value)
        ``("hello", dict)``, ``("error", message)``, ``("window", BoardWindow)`` or
        ``("empty", None)`` for a blank line.

    Raises
    ------
    BoardLineError
        For anything else (not UTF-8, not JSON, not an object, missing or mistyped fields).
    """
    if isinstance(line, bytes):
        try:
            line = line.decode("utf-8")
        except UnicodeDecodeError:
            raise BoardLineError("not UTF-8") from None
    text = line.strip()
    if not text:
        return "empty", None
    try:
        obj = json.loads(text)
    except json.JSONDecodeError as err:
        raise BoardLineError(f"not JSON ({err.msg})") from None
    if not isinstance(obj, dict):
        raise BoardLineError("not a JSON object")
    if "hello" in obj:
        return "hello", obj
    if "error" in obj:
        return "error", str(obj["error"])
    missing = [k for k in WINDOW_FIELDS if k not in obj]
    if missing:
        raise BoardLineError(f"window line lacks {', '.join(missing)}")
    ints = ("start", "raw_mask", "mask", "missed")
    if not all(isinstance(obj[k], int) and not isinstance(obj[k], bool) for k in ints):
        raise BoardLineError(f"{'/'.join(ints)} must be integers")
    if not isinstance(obj["p"], dict) or not all(
            isinstance(v, (int, float)) or v is None for v in obj["p"].values()):
        raise BoardLineError("p must map class names to numbers")
    if not isinstance(obj["dec"], list):
        raise BoardLineError("dec must be a list")
    return "window", BoardWindow(start=obj["start"], probs=obj["p"], dec=obj["dec"],
                                 raw_mask=obj["raw_mask"], mask=obj["mask"], missed=obj["missed"],
                                 infer_us=obj.get("infer_us"), t_ms=obj.get("t_ms"),
                                 lead_off=obj.get("lead_off", []), sat=obj.get("sat", []))


@dataclass
class BoardSession:
    """Everything the board said during one replay.

    Attributes
    ----------
    hello
        The start-up line, if it arrived while the port was open.
    windows
        Window lines in arrival order.
    errors
        ``{"error": …}`` messages from the board.
    malformed
        ``(line, reason)`` for every line that was not what the firmware prints.
    frames_sent, bytes_sent
        What went out.
    elapsed_s
        From the first frame to the end of the session.
    complete
        True when every expected window arrived (always False when none was expected).
    """

    hello: dict | None = None
    windows: list = field(default_factory=list)
    errors: list = field(default_factory=list)
    malformed: list = field(default_factory=list)
    frames_sent: int = 0
    bytes_sent: int = 0
    elapsed_s: float = 0.0
    complete: bool = False


class _LineReader:
    """Lines from a serial-like port whose ``read`` returns what arrived within its timeout."""

    def __init__(self, port):
        self.port = port
        self.buf = bytearray()

    def poll(self) -> list[bytes]:
        n = getattr(self.port, "in_waiting", 0) or 1
        self.buf += self.port.read(n)
        lines = []
        while True:
            i = self.buf.find(b"\n")
            if i < 0:
                break
            lines.append(bytes(self.buf[:i]))
            del self.buf[:i + 1]
        if len(self.buf) > MAX_LINE_BYTES:
            lines.append(bytes(self.buf))  # reported as malformed (no newline in sight)
            self.buf.clear()
        return lines


def encode_replay(samples_uv: np.ndarray, cfg: StreamConfig) -> list[bytes]:
    """The session's frames: a reset frame, then samples frames of ``cfg.samples_per_frame`` rows."""
    x = np.asarray(samples_uv, np.int16)
    frames = [encode_frame(FRAME_RESET, cfg.first_seq)]
    for k, i in enumerate(range(0, len(x), cfg.samples_per_frame)):
        frames.append(encode_sample_frames(x[i:i + cfg.samples_per_frame],
                                              samples_per_frame=cfg.samples_per_frame,
                                              first_seq=cfg.first_seq + 1 + k, reset=False))
    return frames


class BoardListener:
    """Collects the board's lines from a port into a :class:`BoardSession` as they arrive.

    Parameters
    ----------
    port
        Serial-like: ``read(n)`` returning what arrived within its own short timeout (a
        ``pyserial`` ``Serial`` opened with ``timeout=0.05`` fits).
    on_line
        Called with ``(kind, value)`` for every non-empty line (``"malformed"`` with the
        reason for lines that are not what the firmware prints).
    """

    def __init__(self, port, on_line: Callable[[str, object], None] | None = None):
        self.reader = _LineReader(port)
        self.session = BoardSession()
        self.on_line = on_line

    def poll(self) -> int:
        """Read what arrived; return the number of lines handled."""
        lines = self.reader.poll()
        for raw in lines:
            self._handle(raw)
        return len(lines)

    def listen(self, seconds: float) -> None:
        """Poll for ``seconds`` (e.g. to catch the hello line before streaming)."""
        end = time.monotonic() + max(0.0, seconds)
        while time.monotonic() < end:
            self.poll()

    def _handle(self, raw: bytes) -> None:
        s = self.session
        try:
            kind, value = parse_board_line(raw)
        except BoardLineError as err:
            s.malformed.append((raw.decode("utf-8", "replace")[:200], str(err)))
            kind, value = "malformed", str(err)
        if kind == "hello":
            s.hello = value
        elif kind == "error":
            s.errors.append(value)
        elif kind == "window":
            s.windows.append(value)
        if self.on_line is not None and kind != "empty":
            self.on_line(kind, value)


def play_frames(port, frames: Sequence[bytes], *, frame_period_s: float, cfg: StreamConfig,
                expected_windows: int | None = None, listener: BoardListener | None = None,
                on_line: Callable[[str, object], None] | None = None) -> BoardSession:
    """Send frames (paced) while collecting the board's lines.

    Parameters
    ----------
    port
        Serial-like: ``write(bytes)`` and ``read(n)`` returning within its own (short) timeout;
        a ``pyserial`` ``Serial`` opened with ``timeout=0.05`` fits.
    frames
        Byte strings, sent in order from a writer thread.  Frame ``k`` is due at
        ``k · frame_period_s / speed`` after the first; ``speed == 0`` sends back to back.
    frame_period_s
        Signal time one frame carries.
    cfg
        Speed and ``timeout_s``.
    expected_windows
        Stop as soon as the session holds this many window lines; ``None`` waits until no
        window line has come for ``cfg.timeout_s`` after the last frame.
    listener
        Continue collecting into this listener's session (default: a new one on ``port``).
    on_line
        For a new listener: called for every line as it arrives (live printing).

    Returns
    -------
    BoardSession

    Raises
    ------
    StreamError
        If writing fails, or no window line arrived within ``cfg.timeout_s`` after the last
        frame although windows were due (the board never answered).
    """
    listener = listener or BoardListener(port, on_line)
    session = listener.session
    done = threading.Event()
    failure: list[BaseException] = []

    def writer() -> None:
        t0 = time.monotonic()
        try:
            for k, frame in enumerate(frames):
                if cfg.speed > 0:
                    delay = t0 + k * frame_period_s / cfg.speed - time.monotonic()
                    if delay > 0:
                        time.sleep(delay)
                port.write(frame)
                session.frames_sent += 1
                session.bytes_sent += len(frame)
            flush = getattr(port, "flush", None)
            if flush is not None:
                flush()
        except Exception as err:  # noqa: BLE001 — re-raised in the caller's thread below
            failure.append(err)
        finally:
            done.set()

    t_start = time.monotonic()
    thread = threading.Thread(target=writer, daemon=True)
    thread.start()
    while not done.is_set():
        listener.poll()
    # Silence is measured from the last frame (a long real-time replay is not a timeout) and
    # only window lines break it: a board printing junk forever still times out.
    last_heard = time.monotonic()
    n_windows = len(session.windows)
    while not failure:
        listener.poll()
        if len(session.windows) != n_windows:
            n_windows = len(session.windows)
            last_heard = time.monotonic()
        if expected_windows is not None and len(session.windows) >= expected_windows:
            session.complete = expected_windows > 0
            break
        if time.monotonic() - last_heard > cfg.timeout_s:
            break
    thread.join(timeout=cfg.timeout_s)
    session.elapsed_s = time.monotonic() - t_start
    if failure:
        err = failure[0]
        if "timeout" in type(err).__name__.lower() or "timeout" in str(err).lower():
            raise StreamError(f"the board stopped taking data: a write timed out after "
                              f"{session.frames_sent} frames (is it reading the port?)")
        raise StreamError(f"writing to the port failed: {err}")
    if not session.windows and (expected_windows is None or expected_windows > 0):
        said = f"; it said: {session.errors[-1]}" if session.errors else ""
        junk = f"; {len(session.malformed)} unreadable line(s)" if session.malformed else ""
        raise StreamError(f"the board never answered: no window line within {cfg.timeout_s:g} s "
                          f"after {session.frames_sent} frames{said}{junk} (is the lrh_ecg "
                          "firmware running, the baud rate right, the port the board's?)")
    return session


# --------------------------------------------------------------------------------- pairing


@dataclass
class WindowPair:
    """The board's and the host's answer for the same window."""

    start: int
    board: BoardWindow
    host_probs: np.ndarray
    host_raw: int
    host_mask: int

    @property
    def raw_agree(self) -> bool:
        return self.board.raw_mask == self.host_raw

    @property
    def smoothed_agree(self) -> bool:
        return self.board.mask == self.host_mask

    def max_dp(self, classes: Sequence[str]) -> float:
        """Largest |p_board − p_host| over classes (the board prints 3 decimals)."""
        board = np.array([np.nan if self.board.probs.get(c) is None else self.board.probs[c]
                          for c in classes], np.float64)
        return float(np.nanmax(np.abs(board - self.host_probs))) if len(classes) else 0.0


@dataclass
class StreamResult:
    """A finished replay: what the board said and, with a model, the host's answers beside it."""

    record: str
    n_samples: int
    fs: float
    leads: tuple
    classes: list
    session: BoardSession
    pairs: list = field(default_factory=list)
    unpaired: list = field(default_factory=list)
    missing: list = field(default_factory=list)
    clipped: int = 0
    warnings: list = field(default_factory=list)

    def summary(self) -> dict:
        """Counts for the final agreement line (and the ``--json`` summary object)."""
        s = self.session
        out = {"record": self.record, "windows_board": len(s.windows), "frames_sent": s.frames_sent,
               "missed": max((w.missed for w in s.windows), default=0),
               "malformed_lines": len(s.malformed), "board_errors": len(s.errors),
               "missing_windows": len(self.missing), "unpaired_windows": len(self.unpaired)}
        if self.pairs:
            out.update(paired=len(self.pairs),
                       agree=sum(p.raw_agree and p.smoothed_agree for p in self.pairs),
                       raw_agree=sum(p.raw_agree for p in self.pairs),
                       smoothed_agree=sum(p.smoothed_agree for p in self.pairs),
                       max_dp=round(max(p.max_dp(self.classes) for p in self.pairs), 4))
        return out


def pair_windows(session: BoardSession, host: HostReference, samples_uv: np.ndarray,
                 hop: int | None, smooth: tuple[int, int] | None = None) -> tuple[list, list, list]:
    """Pair the board's windows with the host's by start.

    The host decides every window the firmware should have produced (starts from ``hop``,
    or the board's own starts when the hop is unknown), in order, so its smoothing sees the
    same sequence as the board's.

    Returns
    -------
    (pairs, unpaired, missing)
        :class:`WindowPair` list; board windows whose start the host has no window for;
        host window starts the board never reported.
    """
    n = len(samples_uv)
    w = host.cfg.window
    board_starts = [bw.start for bw in session.windows]
    starts = expected_starts(n, w, hop) if hop else sorted({s for s in board_starts if 0 <= s <= n - w})
    probs, raw, smoothed = host.decide(samples_uv, starts, smooth)
    index = {s: i for i, s in enumerate(starts)}
    pairs, unpaired, seen = [], [], set()
    for bw in session.windows:
        i = index.get(bw.start)
        if i is None or bw.start in seen:
            unpaired.append(bw)
            continue
        seen.add(bw.start)
        pairs.append(WindowPair(bw.start, bw, probs[i], raw[i], smoothed[i]))
    missing = [s for s in starts if s not in seen]
    return pairs, unpaired, missing


def check_hello(hello: dict, host: HostReference) -> list[str]:
    """Compare the board's hello line with the host model; return warnings (empty = same model).

    Raises
    ------
    StreamError
        If the board's leads, rate, window or classes differ: the windows would not be comparable.
    """
    cfg = host.cfg
    diffs = []
    if list(hello.get("leads", [])) != list(cfg.leads):
        diffs.append(f"leads {hello.get('leads')} vs {list(cfg.leads)}")
    if not np.isclose(float(hello.get("fs", -1)), float(cfg.fs)):
        diffs.append(f"fs {hello.get('fs')} vs {cfg.fs:g} Hz")
    if hello.get("window") != cfg.window:
        diffs.append(f"window {hello.get('window')} vs {cfg.window}")
    if list(hello.get("classes", [])) != list(host.classes):
        diffs.append(f"classes {hello.get('classes')} vs {list(host.classes)}")
    if diffs:
        raise StreamError("the board runs a different model: " + "; ".join(diffs))
    if hello.get("model_sha256") != host.sha256:
        return [f"board model sha256 {str(hello.get('model_sha256'))[:12]}… differs from "
                f"{host.sha256[:12]}… (same shape, other weights?)"]
    return []


def open_port(port: str, baud: int, read_timeout_s: float = 0.05, write_timeout_s: float = 10.0):
    """Open a serial port with pyserial.

    Raises
    ------
    StreamError
        If pyserial is missing or the port cannot be opened (missing, busy, no permission).
    """
    try:
        import serial
    except ImportError:
        raise StreamError("pyserial is not installed (pip install pyserial)") from None
    try:
        return serial.Serial(port, baudrate=baud, timeout=read_timeout_s,
                             write_timeout=write_timeout_s)
    except (serial.SerialException, OSError, ValueError) as err:
        raise StreamError(f"cannot open serial port {port}: {err}") from None


def stream_record(port, record: Record, *, cfg: StreamConfig = StreamConfig(),
                  host: HostReference | None = None, model_cfg: PreprocessConfig | None = None,
                  hop: int | None = None,
                  on_line: Callable[[str, object], None] | None = None) -> StreamResult:
    """Play one record into an open port and pair the board's decisions with the host's.

    Parameters
    ----------
    port
        An open serial-like port (:func:`open_port`, or anything with ``read``/``write``).
    record
        The record to play.
    cfg
        Pacing and timeouts.
    host
        The host reference (model + sidecar); ``None`` reports the board alone.
    model_cfg
        Leads and rate to play when there is no ``host`` (default :class:`PreprocessConfig`).
    hop
        The board's hop; ``None`` takes the hello line's, else waits for the board to go quiet.

    Returns
    -------
    StreamResult

    Raises
    ------
    StreamError
        Board never answered, write failure, model mismatch with the board's hello.
    RecordError
        If the record cannot be played.
    """
    pcfg = host.cfg if host is not None else (model_cfg or PreprocessConfig())
    leads = len(pcfg.leads)
    if not 1 <= cfg.samples_per_frame or 1 + 2 * cfg.samples_per_frame * leads > FRAME_MAX_PAYLOAD:
        raise StreamError(f"{cfg.samples_per_frame} samples × {leads} leads do not fit one frame")
    samples, clipped = record_samples_uv(record, pcfg)
    frames = encode_replay(samples, cfg)

    # Listen first: the hello line, when the board prints it now, fixes the hop.
    listener = BoardListener(port, on_line)
    listener.listen(cfg.settle_s)
    session = listener.session
    # The record's own warnings (demographics, flat leads), then the session's.
    warnings = list(check_record(record, pcfg))
    if session.hello is not None and host is not None:
        warnings += check_hello(session.hello, host)
    hello_hop = (session.hello or {}).get("hop")
    hop = hop or (hello_hop if isinstance(hello_hop, int) and hello_hop > 0 else None)
    expected = len(expected_starts(len(samples), pcfg.window, hop)) if hop else None
    play_frames(port, frames, frame_period_s=cfg.samples_per_frame / float(pcfg.fs), cfg=cfg,
                expected_windows=expected, listener=listener)
    classes = list(host.classes) if host is not None else list(
        (session.hello or {}).get("classes") or (session.windows[0].probs if session.windows else []))
    result = StreamResult(record=record.name, n_samples=len(samples), fs=float(pcfg.fs),
                          leads=tuple(pcfg.leads), classes=classes, session=session,
                          clipped=clipped, warnings=warnings)
    if clipped:
        warnings.append(f"{clipped} sample value(s) beyond ±32.767 mV clipped (flagged saturated)")
    if host is not None:
        result.pairs, result.unpaired, result.missing = pair_windows(
            session, host, samples, hop, cfg.smooth)
    elif hop:
        got = {w.start for w in session.windows}
        result.missing = [s for s in expected_starts(len(samples), pcfg.window, hop) if s not in got]
    return result


__all__ = ["StreamConfig", "StreamError", "BoardLineError", "BoardWindow", "BoardSession",
           "WindowPair", "StreamResult", "HostReference", "record_samples_uv", "expected_starts",
           "encode_replay", "parse_board_line", "BoardListener", "play_frames", "pair_windows", "check_hello",
           "open_port", "stream_record"]
