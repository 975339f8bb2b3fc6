"""One small API over the three runtimes an int8 ``.tflite`` runs on, and the TFLM arena.

* ``"litert-ref"`` — LiteRT with the reference kernels (``OpResolverType.BUILTIN_REF``); its
  int8 arithmetic is the one TFLM implements, so outputs must match TFLM bit for bit.
* ``"litert"`` — LiteRT with its default (XNNPACK) kernels; each kernel may differ from the
  reference by one LSB because it requantises in float, and through a deep graph these steps
  compound (:func:`lrh_tflm.tflite.parity.op_lsb_divergence` compares kernel by kernel).
* ``"tflm"`` — the TensorFlow Lite Micro host runtime (the ``tflite-micro`` wheel): the same
  kernels and allocator the microcontroller runs.

Inputs are found by name and fed by position (:mod:`lrh_tflm.tflite.schema`).
:func:`quantize_array` is the one float → int8 input quantiser of the project (the host
run, the parity chain, the stream reference and the simulated device all use it; the
firmware's ``rintf`` rounds the same way).  :func:`measure_arena` gives the tensor arena
TFLM really needs (see its docstring for how).
"""
from __future__ import annotations

import contextlib
import os
import re
import sys
import tempfile
from typing import Iterator

import numpy as np
from ai_edge_litert.interpreter import Interpreter, OpResolverType
from tflite_micro.python.tflite_micro import runtime as tflm

from lrh_tflm.tflite.schema import ModelFormatError, TensorInfo, find_inputs, io_details

RUNTIMES = ("litert-ref", "litert", "tflm")

#: TFLM needs the arena start 16-byte aligned; measured sizes are rounded up to this.
ARENA_ALIGNMENT = 16


def quantize_array(x: np.ndarray, info: TensorInfo) -> np.ndarray:
    """Float array → the tensor's dtype using its own scale and zero point.

    ``q = clip(rint(x / scale) + zero_point, -128, 127)`` — ``np.rint`` rounds half to even,
    the same rule as ``rintf`` in the firmware.  Float tensors pass through as float32.
    """
    x = np.asarray(x, dtype=np.float32)
    if not info.quantized:
        return x.astype(info.dtype)
    info_i = np.iinfo(info.dtype)
    q = np.rint(x / np.float32(info.scale)) + info.zero_point
    return np.clip(q, info_i.min, info_i.max).astype(info.dtype)


def sigmoid(logits: np.ndarray) -> np.ndarray:
    """Float64 probabilities of logits: the host's one sigmoid (the firmware's float32 one is
    mirrored by :func:`lrh_tflm.device.protocol.decide`)."""
    return 1.0 / (1.0 + np.exp(-np.asarray(logits, dtype=np.float64)))


def dequantize_array(q: np.ndarray, info: TensorInfo) -> np.ndarray:
    """The tensor's raw values → float32: ``(q - zero_point) * scale`` (float passes through)."""
    q = np.asarray(q)
    if not info.quantized:
        return q.astype(np.float32)
    return ((q.astype(np.int32) - info.zero_point) * np.float32(info.scale)).astype(np.float32)


def shaped_input(x: np.ndarray, info: TensorInfo) -> np.ndarray:
    """``x`` reshaped to the input tensor's shape, refusing the wrong dtype or size."""
    x = np.asarray(x)
    if x.dtype != info.dtype:
        raise ValueError(f"input {info.name!r} expects {np.dtype(info.dtype).name}, got "
                         f"{x.dtype.name}; quantise it first (quantize_ecg/quantize_demo)")
    if x.size != int(np.prod(info.shape)):
        raise ValueError(f"input {info.name!r} expects shape {info.shape}, got {x.shape}")
    return np.ascontiguousarray(x.reshape(info.shape))


class Runner:
    """A loaded model on one runtime.  Build with :func:`make_runner`.

    Attributes
    ----------
    runtime
        ``"litert-ref"``, ``"litert"`` or ``"tflm"``.
    input_details, output_details
        :class:`TensorInfo` lists in flatbuffer order.
    ecg, demo
        The ECG input and the demographics input (``None`` for ECG-only models).
    output
        The (single) logits output.
    """

    def __init__(self, runtime: str, inputs: list[TensorInfo], outputs: list[TensorInfo]):
        self.runtime = runtime
        self.input_details = inputs
        self.output_details = outputs
        self.ecg, self.demo = find_inputs(inputs)
        if len(outputs) != 1:
            raise ModelFormatError(f"expected one output (logits), got {len(outputs)}")
        self.output = outputs[0]

    # -- conversions using the model's own quantisation parameters --
    def quantize_ecg(self, ecg: np.ndarray) -> np.ndarray:
        """Float window(s) → the ECG input's dtype (see :func:`quantize_array`)."""
        return quantize_array(ecg, self.ecg)

    def quantize_demo(self, demo: np.ndarray) -> np.ndarray | None:
        """Float demographics → the demo input's dtype (``None`` if the model has none)."""
        return None if self.demo is None else quantize_array(demo, self.demo)

    def dequantize_output(self, q: np.ndarray) -> np.ndarray:
        """Raw output → float logits."""
        return dequantize_array(q, self.output)

    # -- inference --
    def run(self, ecg_q: np.ndarray, demo_q: np.ndarray | None = None) -> np.ndarray:
        """One inference on already-quantised inputs; returns the raw output (e.g. int8 ``[1, C]``).

        ``ecg_q`` may be ``[W, L]``, ``[1, W, L]`` or ``[1, 1, W, L]``; ``demo_q`` ``[5]`` or
        ``[1, 5]``.
        """
        feeds = {self.ecg.position: shaped_input(ecg_q, self.ecg)}
        if self.demo is not None:
            if demo_q is None:
                raise ValueError("this model has a demographics input; pass demo_q")
            feeds[self.demo.position] = shaped_input(demo_q, self.demo)
        return self._invoke(feeds)

    def run_float(self, ecg: np.ndarray, demo: np.ndarray | None = None) -> np.ndarray:
        """Quantise float inputs, run, and dequantise the output to float logits ``[C]``."""
        demo_q = None if demo is None else self.quantize_demo(demo)
        raw = self.run(self.quantize_ecg(ecg), demo_q)
        return self.dequantize_output(raw).reshape(-1)

    def _invoke(self, feeds: dict[int, np.ndarray]) -> np.ndarray:  # pragma: no cover
        raise NotImplementedError


class _LiteRTRunner(Runner):
    def __init__(self, tflite_bytes: bytes, runtime: str, num_threads: int):
        inputs, outputs = io_details(tflite_bytes)
        super().__init__(runtime, inputs, outputs)
        kwargs = {"model_content": bytes(tflite_bytes), "num_threads": num_threads}
        if runtime == "litert-ref":
            kwargs["experimental_op_resolver_type"] = OpResolverType.BUILTIN_REF
        try:
            self._interp = Interpreter(**kwargs)
            self._interp.allocate_tensors()
        except (RuntimeError, ValueError) as err:
            raise ModelFormatError(f"LiteRT ({runtime}) cannot prepare the model: "
                                   f"{' '.join(str(err).split())}") from None
        # LiteRT lists inputs in the subgraph's order too; keep the tensor indices by position.
        self._in_index = [d["index"] for d in self._interp.get_input_details()]
        self._out_index = self._interp.get_output_details()[0]["index"]

    def _invoke(self, feeds):
        for pos, arr in feeds.items():
            self._interp.set_tensor(self._in_index[pos], arr)
        self._interp.invoke()
        return self._interp.get_tensor(self._out_index).copy()


class _TFLMRunner(Runner):
    def __init__(self, tflite_bytes: bytes, arena_size: int | None):
        inputs, outputs = io_details(tflite_bytes)
        super().__init__("tflm", inputs, outputs)
        if arena_size is None:
            arena_size = measure_arena(tflite_bytes)
        self.arena_size = int(arena_size)
        with quiet_fds():
            try:
                self._interp = tflm.Interpreter.from_bytes(bytes(tflite_bytes),
                                                           arena_size=self.arena_size)
            except RuntimeError as err:
                raise ModelFormatError(f"TFLM cannot load the model with a {self.arena_size}-byte "
                                       f"arena: {err}") from None

    def _invoke(self, feeds):
        for pos, arr in feeds.items():
            self._interp.set_input(arr, pos)
        self._interp.invoke()
        return np.asarray(self._interp.get_output(0)).copy()


def make_runner(tflite_bytes: bytes, runtime: str = "litert-ref", *,
                arena_size: int | None = None, num_threads: int = 1) -> Runner:
    """Load a ``.tflite`` on one runtime.

    Parameters
    ----------
    tflite_bytes
        The flatbuffer.
    runtime
        ``"litert-ref"`` (LiteRT reference kernels), ``"litert"`` (LiteRT default, XNNPACK) or
        ``"tflm"`` (TFLite Micro host runtime).
    arena_size
        TFLM tensor arena in bytes; ``None`` measures it (:func:`measure_arena`).  Ignored by LiteRT.
    num_threads
        LiteRT threads.

    Returns
    -------
    Runner
    """
    if runtime not in RUNTIMES:
        raise ValueError(f"unknown runtime {runtime!r}; choose one of {', '.join(RUNTIMES)}")
    if runtime == "tflm":
        return _TFLMRunner(tflite_bytes, arena_size)
    return _LiteRTRunner(tflite_bytes, runtime, num_threads)


# ----------------------------------------------------------------------------- arena


@contextlib.contextmanager
def capture_fds(fds=(1, 2)) -> Iterator[list[str]]:
    """Redirect C-level file descriptors to a temp file; yields a list filled with the text on exit.

    TFLM's allocator and error reporter print from C++ straight to the process's fds, which
    Python's ``sys.stdout`` redirection cannot see.
    """
    out: list[str] = []
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(Exception):
            stream.flush()
    with tempfile.TemporaryFile(mode="w+b") as tmp:
        saved = [os.dup(fd) for fd in fds]
        try:
            for fd in fds:
                os.dup2(tmp.fileno(), fd)
            yield out
        finally:
            for fd, keep in zip(fds, saved):
                os.dup2(keep, fd)
                os.close(keep)
            tmp.seek(0)
            out.append(tmp.read().decode("utf-8", "replace"))


@contextlib.contextmanager
def quiet_fds():
    with capture_fds():
        yield


def _zero_inputs(inputs: list[TensorInfo]) -> list[np.ndarray]:
    return [np.zeros(i.shape, dtype=i.dtype) for i in inputs]


def _tflm_try(tflite_bytes: bytes, arena_size: int, inputs: list[TensorInfo]):
    """Allocate and invoke once with ``arena_size``; the interpreter, or ``None`` if it fails."""
    try:
        interp = tflm.Interpreter.from_bytes(bytes(tflite_bytes), arena_size=int(arena_size))
        for pos, arr in enumerate(_zero_inputs(inputs)):
            interp.set_input(arr, pos)
        interp.invoke()
    except RuntimeError:
        return None
    return interp


_TOTAL_RE = re.compile(r"Arena allocation total (\d+) bytes")


def recorded_arena(tflite_bytes: bytes, *, arena_size: int | None = None) -> int:
    """The arena total TFLM's ``RecordingMicroAllocator`` reports after one invoke.

    Parameters
    ----------
    arena_size
        Arena to load with (generous; default ``max(10 × model size, 1 MiB)``).

    Raises
    ------
    ModelFormatError
        If the model does not run in TFLM at all (unsupported op, hybrid model …), with
        TFLM's own message.
    """
    inputs, _ = io_details(tflite_bytes)
    size = arena_size or max(10 * len(tflite_bytes), 1 << 20)
    with capture_fds() as text:
        interp = _tflm_try(tflite_bytes, size, inputs)
        if interp is not None:
            interp.print_allocations()
    log = "".join(text)
    if interp is None:
        detail = " ".join(line.strip() for line in log.splitlines() if line.strip())[-400:]
        raise ModelFormatError(f"TFLM could not allocate and run the model with a {size}-byte "
                               f"arena: {detail or 'no message'}")
    m = _TOTAL_RE.search(log)
    if m is None:
        raise ModelFormatError("TFLM printed no arena total (RecordingMicroAllocator output "
                               f"not found): {log[-300:]!r}")
    return int(m.group(1))


def measure_arena(tflite_bytes: bytes) -> int:
    """The smallest tensor arena (bytes) in which TFLM allocates and invokes the model.

    How: the ``RecordingMicroAllocator`` total printed by ``print_allocations()`` (captured
    from the C-level stderr/stdout) gives the starting point; then a binary search over
    ``arena_size`` (in :data:`ARENA_ALIGNMENT` steps) finds the smallest arena for which
    ``from_bytes`` + ``invoke`` succeed on zero inputs.  The search result is what is
    returned — it is the number that matters on the device — and it lies within a few
    alignment steps of the recorded total (checked in ``tests/test_interpreters.py``).
    """
    inputs, _ = io_details(tflite_bytes)
    recorded = recorded_arena(tflite_bytes)
    step = ARENA_ALIGNMENT
    with quiet_fds():
        hi = -(-recorded // step) * step
        while _tflm_try(tflite_bytes, hi, inputs) is None:
            hi *= 2
        # Probe just below the recorded total in 1 KiB strides rather than halving: an arena
        # so small that a kernel's Prepare runs out of temp memory can crash the TFLM host
        # runtime (segfault, not an error), and the minimum lies within a few steps anyway.
        gap = 64 * step
        lo = max(step, hi - gap)
        while lo > step and _tflm_try(tflite_bytes, lo, inputs) is not None:
            hi, lo = lo, max(step, lo - gap)
        # invariant: hi works, lo fails (or lo == step, tried below)
        if _tflm_try(tflite_bytes, lo, inputs) is not None:
            return lo
        while hi - lo > step:
            mid = (lo + hi) // 2 // step * step
            if mid <= lo:
                break
            if _tflm_try(tflite_bytes, mid, inputs) is None:
                lo = mid
            else:
                hi = mid
    return hi


__all__ = [
    "RUNTIMES", "ARENA_ALIGNMENT", "Runner", "make_runner", "quantize_array", "dequantize_array",
    "measure_arena", "recorded_arena", "capture_fds", "quiet_fds", "shaped_input", "sigmoid",
]
