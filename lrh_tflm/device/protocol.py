"""The firmware's wire protocol and decision logic, mirrored in Python.

Both directions of the replay link (``firmware/PROTOCOL.md``):

* frames: :func:`encode_frame` / :func:`encode_sample_frames` write what a host sends, and
  :class:`FrameMirror` is the board's ``FrameDecoder`` state machine (receiver rules, the
  counters ``lrh_host`` prints) plus its windower's "which sample completes a window";
* answers: :func:`decide` is the sketch's ``lrh::Decide`` (int8 logits → float32 sigmoid →
  per-class threshold), :class:`KOfNSmoother` its ``lrh::KOfNSmoother`` (a class is
  reported when decided in ``k`` of the last ``n`` windows; ``k``/``n`` are the generated
  ``kSmoothK``/``kSmoothN``), and :func:`window_json` its JSON line.

The simulated device (:mod:`lrh_tflm.device.simdevice`) and the stream's host reference
(:mod:`lrh_tflm.device.stream`) both use these, so the firmware's logic lives once in Python.
No TensorFlow, no I/O.
"""
from __future__ import annotations

import json
import struct
from dataclasses import dataclass
from typing import Sequence

import numpy as np

#: Replay frame constants (firmware/lrh_ecg/src/frame_codec.h).
FRAME_SYNC = b"\xa5\x5a"
PROTOCOL_VERSION = 1
FRAME_SAMPLES_MICROVOLTS = 0x01
FRAME_SAMPLES_COUNTS = 0x02
FRAME_RESET = 0x03
FRAME_MAX_PAYLOAD = 512


# ----------------------------------------------------------------------- replay frame codec


def crc16_ccitt_false(data: bytes, crc: int = 0xFFFF) -> int:
    """CRC-16/CCITT-FALSE (poly 0x1021, init 0xFFFF, no reflection, no final XOR)."""
    for byte in data:
        crc ^= byte << 8
        for _ in range(8):
            crc = ((crc << 1) ^ 0x1021) if crc & 0x8000 else (crc << 1)
            crc &= 0xFFFF
    return crc


def encode_frame(frame_type: int, seq: int, payload: bytes = b"") -> bytes:
    """One replay frame (firmware/PROTOCOL.md): sync, version, type, seq, len, payload, CRC."""
    if len(payload) > FRAME_MAX_PAYLOAD:
        raise ValueError(f"payload of {len(payload)} bytes exceeds {FRAME_MAX_PAYLOAD}")
    body = struct.pack("<BBHH", PROTOCOL_VERSION, frame_type, seq & 0xFFFF, len(payload)) + payload
    return FRAME_SYNC + body + struct.pack("<H", crc16_ccitt_false(body))


def encode_sample_frames(samples: np.ndarray, *, samples_per_frame: int = 32, first_seq: int = 0,
                         frame_type: int = FRAME_SAMPLES_MICROVOLTS, reset: bool = True) -> bytes:
    """Encode ``(n, leads)`` int16 samples (µV or ADC counts) as consecutive frames.

    With ``reset`` the stream starts with a reset frame (sequence ``first_seq``) and samples
    frames follow from ``first_seq + 1``.
    """
    x = np.asarray(samples)
    if x.ndim != 2:
        raise ValueError(f"samples must be (n, leads), got shape {x.shape}")
    n_leads = x.shape[1]
    if samples_per_frame < 1 or 1 + 2 * samples_per_frame * n_leads > FRAME_MAX_PAYLOAD:
        raise ValueError(f"{samples_per_frame} samples × {n_leads} leads do not fit one frame")
    if x.dtype != np.int16:
        if np.any(x < -32768) or np.any(x > 32767):
            raise ValueError("samples do not fit int16; clip them first")
        x = x.astype(np.int16)
    out = bytearray()
    seq = first_seq
    if reset:
        out += encode_frame(FRAME_RESET, seq)
        seq += 1
    for i in range(0, len(x), samples_per_frame):
        chunk = x[i:i + samples_per_frame]
        out += encode_frame(frame_type, seq, bytes([n_leads]) + chunk.astype("<i2").tobytes())
        seq += 1
    return bytes(out)


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
            if ver != PROTOCOL_VERSION or length > FRAME_MAX_PAYLOAD or ftype not in (
                    FRAME_SAMPLES_MICROVOLTS, FRAME_SAMPLES_COUNTS, FRAME_RESET):
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
        if crc16_ccitt_false(body) != crc:
            return self._drop("bad_crc")
        _ver, ftype, seq, length = struct.unpack("<BBHH", body[:6])
        payload = body[6:]
        if ftype == FRAME_RESET:
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


__all__ = ["FRAME_SYNC", "PROTOCOL_VERSION", "FRAME_SAMPLES_MICROVOLTS", "FRAME_SAMPLES_COUNTS",
           "FRAME_RESET", "FRAME_MAX_PAYLOAD", "crc16_ccitt_false", "encode_frame",
           "encode_sample_frames", "decide", "KOfNSmoother", "format_fixed", "window_json",
           "FrameStats", "FrameMirror"]
