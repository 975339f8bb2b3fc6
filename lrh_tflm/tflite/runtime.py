"""One small API over the three runtimes an int8 ``.tflite`` is checked on.

* ``"litert-ref"`` — LiteRT with the reference kernels (``OpResolverType.BUILTIN_REF``); its
  int8 arithmetic is the one TFLM implements, so outputs must match TFLM bit for bit.
* ``"litert"`` — LiteRT with its default (XNNPACK) kernels; each kernel may differ from the
  reference by one LSB because it requantises in float, and through a deep graph these steps
  compound (:func:`op_lsb_divergence` compares kernel by kernel on identical inputs).
* ``"tflm"`` — the TensorFlow Lite Micro host runtime (the ``tflite-micro`` wheel): the same
  kernels and allocator the microcontroller runs.

The models this project exports take an ``ecg`` input ``[1, 1, W, L]`` and, optionally, a
``demo`` input ``[1, 5]`` and give one output (logits ``[1, C]``).  Inputs are matched by
tensor *name* (the converter names them ``serving_default_ecg:0`` …); TFLM's Python API
addresses inputs by position only, and the position is the one in the flatbuffer's subgraph
input list, which is read here once so every runtime maps inputs the same way.

:func:`measure_arena` gives the tensor arena TFLM really needs (see its docstring for how).
"""
from __future__ import annotations

import contextlib
import os
import re
import tempfile
from dataclasses import dataclass
from typing import Iterator

import numpy as np

import lrh_tflm  # noqa: F401  (sets TF_USE_LEGACY_KERAS before any TensorFlow import)

RUNTIMES = ("litert-ref", "litert", "tflm")

#: TFLM needs the arena start 16-byte aligned; measured sizes are rounded up to this.
ARENA_ALIGNMENT = 16


@dataclass(frozen=True)
class TensorInfo:
    """An input or output tensor of a model, as every runtime sees it.

    Attributes
    ----------
    name
        Tensor name in the flatbuffer (e.g. ``"serving_default_ecg:0"``).
    position
        Position in the subgraph's input (or output) list: the index TFLM's API takes.
    shape
        Static shape.
    dtype
        numpy dtype (``np.int8`` for full-int8 models, ``np.float32`` for float ones).
    scale, zero_point
        Per-tensor quantisation parameters; ``(0.0, 0)`` for float tensors.
    """

    name: str
    position: int
    shape: tuple[int, ...]
    dtype: type
    scale: float
    zero_point: int

    @property
    def quantized(self) -> bool:
        return self.scale != 0.0


class ModelFormatError(ValueError):
    """The bytes are not a usable model for this project (not a flatbuffer, wrong inputs…)."""


def parse_model(tflite_bytes: bytes):
    """Parse a ``.tflite`` flatbuffer into the TFLM schema's object API (``ModelT``).

    Raises
    ------
    ModelFormatError
        If the bytes are not a TFLite flatbuffer.
    """
    from tflite_micro.tensorflow.lite.micro.python import schema_py_generated as schema_fb

    data = bytearray(tflite_bytes)
    # A TFLite flatbuffer carries the file identifier "TFL3" at bytes 4..8.
    if len(data) < 8 or bytes(data[4:8]) != b"TFL3":
        raise ModelFormatError("not a TFLite flatbuffer (missing 'TFL3' identifier)")
    return schema_fb.ModelT.InitFromObj(schema_fb.Model.GetRootAsModel(data, 0))


def _tensor_info(tensor, position: int) -> TensorInfo:
    from tflite_micro.tensorflow.lite.micro.python import schema_py_generated as schema_fb

    dtypes = {schema_fb.TensorType.INT8: np.int8, schema_fb.TensorType.FLOAT32: np.float32,
              schema_fb.TensorType.INT32: np.int32, schema_fb.TensorType.UINT8: np.uint8,
              schema_fb.TensorType.INT16: np.int16}
    if tensor.type not in dtypes:
        raise ModelFormatError(f"unsupported tensor type {tensor.type} for {tensor.name!r}")
    q = tensor.quantization
    scale, zp = 0.0, 0
    if q is not None and q.scale is not None and len(q.scale) > 0:
        scale, zp = float(q.scale[0]), int(q.zeroPoint[0])
    name = tensor.name.decode() if isinstance(tensor.name, bytes) else str(tensor.name)
    return TensorInfo(name=name, position=position,
                      shape=tuple(int(s) for s in tensor.shape),
                      dtype=dtypes[tensor.type], scale=scale, zero_point=zp)


def io_details(tflite_bytes: bytes) -> tuple[list[TensorInfo], list[TensorInfo]]:
    """Inputs and outputs of the model's main subgraph, in flatbuffer order.

    Returns
    -------
    (inputs, outputs)
        Lists of :class:`TensorInfo`; ``position`` is the index into each list.
    """
    model = parse_model(tflite_bytes)
    sg = model.subgraphs[0]
    inputs = [_tensor_info(sg.tensors[t], i) for i, t in enumerate(sg.inputs)]
    outputs = [_tensor_info(sg.tensors[t], i) for i, t in enumerate(sg.outputs)]
    return inputs, outputs


def _role(name: str) -> str | None:
    low = name.lower()
    for role in ("ecg", "demo"):
        if re.search(rf"(^|[^a-z]){role}([^a-z]|$)", low):
            return role
    return None


def find_inputs(inputs: list[TensorInfo]) -> tuple[TensorInfo, TensorInfo | None]:
    """Pick the ``ecg`` and (optional) ``demo`` inputs by tensor name.

    A single-input model is taken to be ECG-only whatever its input is named.

    Raises
    ------
    ModelFormatError
        If the inputs cannot be identified.
    """
    if len(inputs) == 1:
        return inputs[0], None
    by_role = {}
    for info in inputs:
        role = _role(info.name)
        if role is None or role in by_role:
            raise ModelFormatError(
                "cannot tell the model's inputs apart: expected tensors named 'ecg' and "
                f"'demo', got {[i.name for i in inputs]}")
        by_role[role] = info
    if set(by_role) != {"ecg", "demo"} or len(inputs) != 2:
        raise ModelFormatError(f"expected inputs 'ecg' and 'demo', got {[i.name for i in inputs]}")
    return by_role["ecg"], by_role["demo"]


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


def dequantize_array(q: np.ndarray, info: TensorInfo) -> np.ndarray:
    """The tensor's raw values → float32: ``(q - zero_point) * scale`` (float passes through)."""
    q = np.asarray(q)
    if not info.quantized:
        return q.astype(np.float32)
    return ((q.astype(np.int32) - info.zero_point) * np.float32(info.scale)).astype(np.float32)


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
        feeds = {self.ecg.position: self._shaped(ecg_q, self.ecg)}
        if self.demo is not None:
            if demo_q is None:
                raise ValueError("this model has a demographics input; pass demo_q")
            feeds[self.demo.position] = self._shaped(demo_q, self.demo)
        return self._invoke(feeds)

    def run_float(self, ecg: np.ndarray, demo: np.ndarray | None = None) -> np.ndarray:
        """Quantise float inputs, run, and dequantise the output to float logits ``[C]``."""
        demo_q = None if demo is None else self.quantize_demo(demo)
        raw = self.run(self.quantize_ecg(ecg), demo_q)
        return self.dequantize_output(raw).reshape(-1)

    @staticmethod
    def _shaped(x: np.ndarray, info: TensorInfo) -> np.ndarray:
        x = np.asarray(x)
        if x.dtype != info.dtype:
            raise ValueError(f"input {info.name!r} expects {np.dtype(info.dtype).name}, got "
                             f"{x.dtype.name}; quantise it first (quantize_ecg/quantize_demo)")
        if x.size != int(np.prod(info.shape)):
            raise ValueError(f"input {info.name!r} expects shape {info.shape}, got {x.shape}")
        return np.ascontiguousarray(x.reshape(info.shape))

    def _invoke(self, feeds: dict[int, np.ndarray]) -> np.ndarray:  # pragma: no cover
        raise NotImplementedError


class _LiteRTRunner(Runner):
    def __init__(self, tflite_bytes: bytes, runtime: str, num_threads: int):
        from ai_edge_litert.interpreter import Interpreter, OpResolverType

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
        from tflite_micro.python.tflite_micro import runtime as tflm

        inputs, outputs = io_details(tflite_bytes)
        super().__init__("tflm", inputs, outputs)
        if arena_size is None:
            arena_size = measure_arena(tflite_bytes)
        self.arena_size = int(arena_size)
        with _quiet_fds():
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


def first_divergence(tflite_bytes: bytes, ecg_q: np.ndarray,
                     demo_q: np.ndarray | None = None) -> dict | None:
    """The first operator whose output differs between TFLM and LiteRT-ref on one input.

    Both runtimes are run with every intermediate tensor preserved and compared op by op in
    execution order — the way to tell which kernel breaks bit-exactness.

    Returns
    -------
    dict or None
        ``{"op_index", "op_name", "max_lsb", "mismatched", "size"}`` of the first differing
        operator output, or ``None`` when every intermediate tensor matches.
    """
    from ai_edge_litert.interpreter import Interpreter, OpResolverType
    from tflite_micro.python.tflite_micro import runtime as tflm

    inputs, _ = io_details(tflite_bytes)
    ecg, demo = find_inputs(inputs)
    feeds = {ecg.position: Runner._shaped(ecg_q, ecg)}
    if demo is not None:
        feeds[demo.position] = Runner._shaped(demo_q, demo)
    ref = Interpreter(model_content=bytes(tflite_bytes), num_threads=1,
                      experimental_op_resolver_type=OpResolverType.BUILTIN_REF,
                      experimental_preserve_all_tensors=True)
    ref.allocate_tensors()
    in_index = [d["index"] for d in ref.get_input_details()]
    for pos, arr in feeds.items():
        ref.set_tensor(in_index[pos], arr)
    ref.invoke()
    from lrh_tflm.mcu_layout import without_plan

    # Preserving every tensor needs each in its own memory: drop the offline arena plan.
    unplanned = without_plan(tflite_bytes)
    with _quiet_fds():
        micro = tflm.Interpreter.from_bytes(
            unplanned, arena_size=max(4 * measure_arena(unplanned), 1 << 20),
            intrepreter_config=tflm.InterpreterConfig.kPreserveAllTensors)
    for pos, arr in feeds.items():
        micro.set_input(arr, pos)
    micro.invoke()
    for op in ref._get_ops_details():  # the only LiteRT API listing ops in execution order
        for t in op["outputs"]:
            a = ref.get_tensor(int(t))
            b = np.asarray(micro.GetTensor(int(t), 0)["tensor_data"]).reshape(a.shape)
            diff = np.abs(a.astype(np.int64) - b.astype(np.int64))
            if diff.any():
                return {"op_index": int(op["index"]), "op_name": op["op_name"],
                        "max_lsb": int(diff.max()), "mismatched": int((diff > 0).sum()),
                        "size": int(diff.size)}
    return None


def _one_op_models(tflite_bytes: bytes) -> list[tuple[int, str, list[int], list[int], bytes]]:
    """For every operator of subgraph 0, in execution order: a flatbuffer running only that op.

    Every tensor and buffer is kept, so tensor indices (and LiteRT's interpreter indices,
    which equal them for the primary subgraph) stay those of the full model; the op's
    non-constant inputs become the subgraph's inputs and its outputs the subgraph's outputs.

    Returns
    -------
    list of (op_index, op_name, input tensor indices, output tensor indices, model bytes)
    """
    from lrh_tflm.mcu_layout import pack_model
    from lrh_tflm.quantize import is_constant, op_name, unpack_model

    # The caller has read the model with io_details, which rejects non-TFLite bytes.
    model = unpack_model(tflite_bytes, ModelFormatError)
    if len(model.subgraphs or []) != 1:
        raise ModelFormatError(f"expected one subgraph, got {len(model.subgraphs or [])}")
    sub = model.subgraphs[0]
    ops = list(sub.operators or [])
    # The signature names the full model's inputs/outputs, which a one-op model no longer has.
    model.signatureDefs = None
    out = []
    for k, op in enumerate(ops):
        live = []
        for t in op.inputs:
            t = int(t)
            if t >= 0 and t not in live and not is_constant(model, sub.tensors[t]):
                live.append(t)
        outs = [int(t) for t in op.outputs]
        sub.operators, sub.inputs, sub.outputs = [op], live, outs
        out.append((k, op_name(model, op), live, outs, pack_model(model)))
    return out


def op_lsb_divergence(tflite_bytes: bytes, ecg_q_batch: np.ndarray,
                      demo_q_batch: np.ndarray | None = None) -> list[dict]:
    """Per-operator |XNNPACK − reference| on identical inputs, for every window.

    Why per operator: XNNPACK requantises in float32 where the reference kernels use fixed
    point, so single values may round one LSB apart; through a deep network these differences
    compound (measured: every kernel of the 34-op default student within 1 LSB, the logits up
    to 3 LSB apart; 9 before its QAT ranges were calibrated).  Comparing each kernel on the *reference's* own intermediate tensors
    separates "a kernel is wrong" from "rounding accumulates".

    How: the full model runs on LiteRT ``BUILTIN_REF`` with every intermediate tensor
    preserved; each operator becomes a one-op flatbuffer (its non-constant inputs as subgraph
    inputs, all buffers kept) loaded once on ``BUILTIN_REF`` and once on LiteRT's default
    (XNNPACK) resolver, and both are fed the reference's tensors of each window.

    Parameters
    ----------
    tflite_bytes
        The full-int8 flatbuffer (one subgraph).
    ecg_q_batch
        Quantised ECG windows ``(n, …)``; each must have the ``ecg`` input's size.
    demo_q_batch
        Quantised demographics ``(n, 5)``; required when the model has a ``demo`` input.

    Returns
    -------
    list of dict
        One per operator in execution order: ``op_index``, ``op_name``, ``max_lsb`` (largest
        |XNNPACK − ref| over all its outputs and windows), ``mismatched`` (values that differ,
        all windows), ``size`` (values compared, all windows), ``worst_window``,
        ``worst_xnnpack`` and ``worst_ref`` (the two values where ``max_lsb`` was first met)
        and, per window, ``window_max_lsb`` (its largest difference) and ``window_worst``
        (``(xnnpack, ref)`` values where it occurs).

    Raises
    ------
    ModelFormatError
        If the bytes are not a usable model or a one-op model cannot be prepared.
    """
    from ai_edge_litert.interpreter import Interpreter, OpResolverType

    inputs, _ = io_details(tflite_bytes)
    ecg, demo = find_inputs(inputs)
    ecg_q_batch = np.asarray(ecg_q_batch)
    n = len(ecg_q_batch)
    if demo is not None and (demo_q_batch is None or len(demo_q_batch) != n):
        raise ValueError("this model has a demographics input; pass one demo_q per window")

    def load(model: bytes, ref: bool, **extra):
        kwargs = {"model_content": model, "num_threads": 1, **extra}
        if ref:
            kwargs["experimental_op_resolver_type"] = OpResolverType.BUILTIN_REF
        interp = Interpreter(**kwargs)
        interp.allocate_tensors()
        return interp

    try:
        full = load(bytes(tflite_bytes), True, experimental_preserve_all_tensors=True)
    except (RuntimeError, ValueError) as err:
        raise ModelFormatError(f"LiteRT (litert-ref) cannot prepare the model: "
                               f"{' '.join(str(err).split())}") from None
    full_in = [d["index"] for d in full.get_input_details()]
    singles = []
    for k, name, live, outs, model in _one_op_models(tflite_bytes):
        try:
            pair = (load(model, True), load(model, False))
        except (RuntimeError, ValueError) as err:
            raise ModelFormatError(f"LiteRT cannot prepare op {k} ({name}) on its own: "
                                   f"{' '.join(str(err).split())}") from None
        singles.append((k, name, live, outs, pair))

    stats = [{"op_index": k, "op_name": name, "max_lsb": 0, "mismatched": 0, "size": 0,
              "worst_window": 0, "worst_xnnpack": None, "worst_ref": None,
              "window_max_lsb": [0] * n, "window_worst": [(0, 0)] * n}
             for k, name, *_ in singles]
    for w in range(n):
        full.set_tensor(full_in[ecg.position], Runner._shaped(ecg_q_batch[w], ecg))
        if demo is not None:
            full.set_tensor(full_in[demo.position], Runner._shaped(demo_q_batch[w], demo))
        full.invoke()
        for st, (_, _, live, outs, pair) in zip(stats, singles):
            results = []
            for interp in pair:
                for t in live:
                    interp.set_tensor(t, full.get_tensor(t))
                interp.invoke()
                results.append(np.concatenate(
                    [interp.get_tensor(t).astype(np.int64).reshape(-1) for t in outs]))
            ref, xnn = results
            # The one-op reference must reproduce the full model's tensor, or the inputs were
            # not wired as in the full graph and the comparison would mean nothing.
            if not np.array_equal(ref, np.concatenate(
                    [full.get_tensor(t).astype(np.int64).reshape(-1) for t in outs])):
                raise ModelFormatError(f"op {st['op_index']} ({st['op_name']}) run on its own "
                                       "does not reproduce the full model's reference output")
            diff = np.abs(xnn - ref)
            worst = int(diff.argmax())
            st["window_max_lsb"][w] = int(diff[worst])
            st["window_worst"][w] = (int(xnn[worst]), int(ref[worst]))
            st["mismatched"] += int(np.count_nonzero(diff))
            st["size"] += int(diff.size)
            if st["worst_ref"] is None or diff[worst] > st["max_lsb"]:
                st.update(max_lsb=int(diff[worst]), worst_window=w,
                          worst_xnnpack=int(xnn[worst]), worst_ref=int(ref[worst]))
    return stats


# ----------------------------------------------------------------------------- arena


@contextlib.contextmanager
def _capture_fds(fds=(1, 2)) -> Iterator[list[str]]:
    """Redirect C-level file descriptors to a temp file; yields a list filled with the text on exit.

    TFLM's allocator and error reporter print from C++ straight to the process's fds, which
    Python's ``sys.stdout`` redirection cannot see.
    """
    import sys

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
def _quiet_fds():
    with _capture_fds():
        yield


def _zero_inputs(inputs: list[TensorInfo]) -> list[np.ndarray]:
    return [np.zeros(i.shape, dtype=i.dtype) for i in inputs]


def _tflm_try(tflite_bytes: bytes, arena_size: int, inputs: list[TensorInfo]):
    """Allocate and invoke once with ``arena_size``; the interpreter, or ``None`` if it fails."""
    from tflite_micro.python.tflite_micro import runtime as tflm

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
    with _capture_fds() as text:
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
    with _quiet_fds():
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
    "RUNTIMES", "ARENA_ALIGNMENT", "TensorInfo", "ModelFormatError", "Runner", "make_runner",
    "parse_model", "io_details", "find_inputs", "quantize_array", "dequantize_array",
    "measure_arena", "recorded_arena", "first_divergence", "op_lsb_divergence",
]
