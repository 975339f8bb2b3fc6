"""The one flatbuffer reader: op names, constants, I/O details and packing.

Every module that looks inside a ``.tflite`` goes through :func:`unpack_model`, which reads
the bytes with the schema bundled in LiteRT (``ai_edge_litert.schema_py_generated``, object
API ``ModelT``) — no TensorFlow import, no interpreter.  TFLM's generated schema has the same
tables and builtin codes, so one reader serves every runtime.

The models this project exports take an ``ecg`` input ``[1, 1, W, L]`` and, optionally, a
``demo`` input ``[1, 5]`` and give one output (logits ``[1, C]``).  Inputs are matched by
tensor *name* (the converter names them ``serving_default_ecg:0`` …); TFLM's Python API
addresses inputs by position only, and the position is the one in the flatbuffer's subgraph
input list (:attr:`TensorInfo.position`), read here once so every runtime maps inputs the
same way.

:func:`pack_model` writes an unpacked model back with every buffer 16-byte aligned, as the
converter writes them (TFLM reads weights in place).
"""
from __future__ import annotations

import functools
import re
from dataclasses import dataclass

import flatbuffers
import numpy as np
from ai_edge_litert import schema_py_generated as _schema

#: Input names of the model contract, in signature order.
INPUT_NAMES = ("ecg", "demo")

#: Alignment of every buffer in a written flatbuffer (TFLM's MicroArenaBufferAlignment()).
BUFFER_ALIGNMENT = 16


class ModelFormatError(ValueError):
    """The bytes are not a usable model for this project (not a flatbuffer, wrong inputs…)."""


def litert_schema():
    """LiteRT's bundled flatbuffer schema module (object API: ``ModelT`` … ``Pack``)."""
    return _schema


def unpack_model(tflite: bytes, error: type[Exception] = ModelFormatError):
    """The flatbuffer as LiteRT's ``ModelT`` object tree.

    Parameters
    ----------
    tflite
        The flatbuffer bytes.
    error
        Exception class raised for bytes that are not a TFLite flatbuffer (callers pass their
        own, e.g. ``ConversionError``, so their users catch one type).

    Raises
    ------
    error
        ``"not a TFLite flatbuffer …"`` for bytes without the identifier, ``"not a valid
        TFLite flatbuffer (…)"`` for a truncated or corrupt one (offsets outside the file,
        indices to tensors, buffers or op codes that do not exist, negative shapes,
        constant buffers smaller than their tensors).
    """
    data = bytearray(tflite)
    # A TFLite flatbuffer carries the file identifier "TFL3" at bytes 4..8.
    if len(data) < 8 or bytes(data[4:8]) != b"TFL3":
        raise error("not a TFLite flatbuffer (missing 'TFL3' identifier)")
    try:
        model = _schema.ModelT.InitFromObj(_schema.Model.GetRootAs(data, 0))
    # flatbuffers raises whatever its reads run into on damaged bytes: struct.error for an
    # offset past the end, ValueError, IndexError, UnicodeDecodeError, MemoryError for a
    # vector length in the billions.
    except Exception as err:  # noqa: BLE001
        detail = str(err)
        if "unpack_from requires a buffer" in detail or isinstance(err, (IndexError, MemoryError)):
            detail = (f"an offset or length points outside the {len(data):,}-byte file: "
                      "truncated or corrupt")
        raise error(f"not a valid TFLite flatbuffer ({detail})") from None
    problem = _structure_problem(model, len(data))
    if problem:
        raise error(f"not a valid TFLite flatbuffer ({problem}: corrupt)")
    return model


def _structure_problem(model, size: int) -> str | None:
    """What is wrong with an unpacked model's cross-references, or ``None``.

    The flatbuffer parser only checks that reads stay inside the bytes; the runtimes (TFLM's
    C++ above all) trust the indices and shapes and would read out of bounds on a corrupt
    model, so they are checked here first.
    """
    subgraphs = model.subgraphs or []
    buffers = model.buffers or []
    n_codes = len(model.operatorCodes or [])
    if not subgraphs:
        return "no subgraph"
    for b, buf in enumerate(buffers):
        offset, length = int(getattr(buf, "offset", 0) or 0), int(getattr(buf, "size", 0) or 0)
        if offset and (offset < 0 or length < 0 or offset + length > size):
            return f"buffer {b} lies outside the file"
    for g, sub in enumerate(subgraphs):
        tensors = sub.tensors or []
        n = len(tensors)
        for t, tensor in enumerate(tensors):
            shape = [int(d) for d in (tensor.shape if tensor.shape is not None else [])]
            if any(d < 0 for d in shape):
                return f"tensor {t} of subgraph {g} has the shape {shape}"
            if not 0 <= int(tensor.buffer) < max(1, len(buffers)):
                return f"tensor {t} of subgraph {g} names buffer {tensor.buffer} of {len(buffers)}"
            width = _ELEMENT_BYTES.get(int(tensor.type))
            buf = buffers[tensor.buffer] if tensor.buffer < len(buffers) else None
            if width and buf is not None and buf.data is not None and len(buf.data):
                need = int(np.prod(shape, dtype=np.int64)) * width
                if len(buf.data) < need:
                    return (f"tensor {t} of subgraph {g} needs {need} bytes of constant data, "
                            f"its buffer holds {len(buf.data)}")
        for what, idx in (("input", sub.inputs), ("output", sub.outputs)):
            for i in (idx if idx is not None else []):
                if not 0 <= int(i) < n:
                    return f"subgraph {g} {what} {i} is not one of its {n} tensors"
        for k, op in enumerate(sub.operators or []):
            if not 0 <= int(op.opcodeIndex) < n_codes:
                return f"operator {k} of subgraph {g} names op code {op.opcodeIndex} of {n_codes}"
            for i in list(op.inputs if op.inputs is not None else []) + \
                    list(op.outputs if op.outputs is not None else []):
                if not -1 <= int(i) < n:
                    return f"operator {k} of subgraph {g} names tensor {i} of {n}"
    return None


def is_constant(model, tensor) -> bool:
    """Whether a tensor of an unpacked flatbuffer (``ModelT``) holds constant data (weights,
    biases, shapes) rather than an activation.  Large models keep buffer contents outside
    the flatbuffer (``offset``/``size``) instead of in ``data``."""
    if tensor.buffer <= 0 or tensor.buffer >= len(model.buffers or []):
        return False
    buf = model.buffers[tensor.buffer]
    return (buf.data is not None and len(buf.data) > 0) or bool(getattr(buf, "offset", 0))


def _enum_names(enum_cls) -> dict[int, str]:
    return {v: k for k, v in vars(enum_cls).items() if not k.startswith("_") and isinstance(v, int)}


def tensor_name(tensor) -> str:
    """A tensor's name as ``str`` (the object API gives ``bytes``)."""
    return tensor.name.decode() if isinstance(tensor.name, bytes) else str(tensor.name)


def op_name(model, op) -> str:
    """Builtin op name of one operator of an unpacked model (custom ops as ``CUSTOM:name``)."""
    code = model.operatorCodes[op.opcodeIndex]
    builtin = max(code.builtinCode, code.deprecatedBuiltinCode)
    if builtin == _schema.BuiltinOperator.CUSTOM:
        custom = code.customCode.decode() if isinstance(code.customCode, bytes) \
            else str(code.customCode)
        return f"CUSTOM:{custom}"
    return _enum_names(_schema.BuiltinOperator).get(builtin, f"UNKNOWN_{builtin}")


def model_ops(model) -> list[str]:
    """Builtin op names of an unpacked model, sorted, each once."""
    return sorted({op_name(model, op) for sub in model.subgraphs or []
                   for op in sub.operators or []})


def tflite_ops(tflite: bytes, error: type[Exception] = ModelFormatError) -> list[str]:
    """Builtin op names used by a flatbuffer, sorted, each once (custom ops as ``CUSTOM:name``)."""
    return model_ops(unpack_model(tflite, error))


def operators(tflite: bytes):
    """Yield ``(op_name, input_shapes, output_shapes)`` for every operator of the main subgraph.

    A missing optional input (index -1) has the shape ``None``.
    """
    model = unpack_model(tflite)
    sg = model.subgraphs[0]

    def shape(t):
        return None if t < 0 else tuple(int(s) for s in sg.tensors[t].shape)

    for op in sg.operators or []:
        ins = [shape(t) for t in (op.inputs if op.inputs is not None else [])]
        outs = [shape(t) for t in (op.outputs if op.outputs is not None else [])]
        yield op_name(model, op), ins, outs


def float_tensors(model) -> list[str]:
    """Names of float32/float16 tensors of an unpacked model that operators read or write."""
    out = []
    for sub in model.subgraphs or []:
        used = {i for op in sub.operators or [] for i in list(op.inputs) + list(op.outputs)
                if i >= 0}
        for i in sorted(used):
            tensor = sub.tensors[i]
            if tensor.type in (_schema.TensorType.FLOAT32, _schema.TensorType.FLOAT16):
                out.append(tensor_name(tensor))
    return out


# ----------------------------------------------------------------------------- I/O details


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


#: Bytes per element of the tensor types whose constant data is checked for size.
_ELEMENT_BYTES = {_schema.TensorType.FLOAT32: 4, _schema.TensorType.INT32: 4,
                  _schema.TensorType.INT8: 1, _schema.TensorType.UINT8: 1,
                  _schema.TensorType.INT16: 2, _schema.TensorType.INT64: 8,
                  _schema.TensorType.FLOAT16: 2}

_DTYPES = {_schema.TensorType.INT8: np.int8, _schema.TensorType.FLOAT32: np.float32,
           _schema.TensorType.INT32: np.int32, _schema.TensorType.UINT8: np.uint8,
           _schema.TensorType.INT16: np.int16}


def _quantization(tensor) -> tuple[float, int] | None:
    q = tensor.quantization
    if q is not None and q.scale is not None and len(q.scale) > 0:
        return float(q.scale[0]), int(q.zeroPoint[0])
    return None


def _tensor_info(tensor, position: int) -> TensorInfo:
    if tensor.type not in _DTYPES:
        raise ModelFormatError(f"unsupported tensor type {tensor.type} for {tensor.name!r}")
    scale, zp = _quantization(tensor) or (0.0, 0)
    return TensorInfo(name=tensor_name(tensor), position=position,
                      shape=tuple(int(s) for s in tensor.shape),
                      dtype=_DTYPES[tensor.type], scale=scale, zero_point=zp)


def io_details(tflite_bytes: bytes) -> tuple[list[TensorInfo], list[TensorInfo]]:
    """Inputs and outputs of the model's main subgraph, in flatbuffer order.

    Returns
    -------
    (inputs, outputs)
        Lists of :class:`TensorInfo`; ``position`` is the index into each list.

    Raises
    ------
    ModelFormatError
        If the bytes are not a TFLite flatbuffer or a tensor has a type no runtime here feeds.
    """
    model = unpack_model(tflite_bytes)
    sg = model.subgraphs[0]
    inputs = [_tensor_info(sg.tensors[t], i) for i, t in enumerate(sg.inputs)]
    outputs = [_tensor_info(sg.tensors[t], i) for i, t in enumerate(sg.outputs)]
    return inputs, outputs


def _role(name: str) -> str | None:
    low = name.lower()
    for role in INPUT_NAMES:
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


def _clean_name(raw: str) -> str:
    """``serving_default_ecg:0`` → ``ecg``; ``StatefulPartitionedCall:0`` stays as is."""
    for name in INPUT_NAMES + ("logits",):
        if raw == name or raw.split(":")[0].endswith(f"_{name}") or raw.split(":")[0] == name:
            return name
    return raw


def tensor_details(tflite: bytes, error: type[Exception] = ModelFormatError) -> dict[str, dict]:
    """Quantisation parameters, shape and dtype of the model's inputs and outputs, as JSON.

    Returns
    -------
    dict
        ``{"inputs": {name: detail}, "outputs": {name: detail}}`` in flatbuffer order, with
        detail = ``{"index", "shape", "dtype", "scale", "zero_point"}``.  Input names are the
        contract's ``ecg``/``demo``; a single output is called ``logits``.  ``scale`` and
        ``zero_point`` are ``None`` for an unquantised tensor.
    """
    dtypes = _enum_names(_schema.TensorType)
    sub = unpack_model(tflite, error).subgraphs[0]

    def detail(index: int) -> tuple[str, dict]:
        tensor = sub.tensors[index]
        scale, zero = _quantization(tensor) or (None, None)
        return _clean_name(tensor_name(tensor)), {
            "index": int(index),
            "shape": [int(d) for d in tensor.shape],
            "dtype": dtypes.get(tensor.type, str(tensor.type)).lower(),
            "scale": scale,
            "zero_point": zero,
        }

    ins = dict(detail(i) for i in sub.inputs)
    outs = [detail(i) for i in sub.outputs]
    if len(outs) == 1:
        outs = [("logits", outs[0][1])]
    return {"inputs": ins, "outputs": dict(outs)}


# ----------------------------------------------------------------------------- packing


@functools.lru_cache(maxsize=None)
def _aligned_buffer_class():
    """BufferT whose data vector starts on a 16-byte boundary, as the converter writes it."""

    class AlignedBufferT(_schema.BufferT):
        def Pack(self, builder):  # noqa: N802  (flatbuffers' generated name)
            data = None
            if self.data is not None:
                raw = bytes(np.asarray(self.data, dtype=np.uint8).tobytes())
                builder.StartVector(1, len(raw), BUFFER_ALIGNMENT)
                builder.head = builder.head - len(raw)
                builder.Bytes[builder.head:builder.head + len(raw)] = raw
                data = builder.EndVector()
            _schema.BufferStart(builder)
            if data is not None:
                _schema.BufferAddData(builder, data)
            _schema.BufferAddOffset(builder, self.offset)
            _schema.BufferAddSize(builder, self.size)
            return _schema.BufferEnd(builder)

    return AlignedBufferT


def pack_model(model) -> bytes:
    """Serialise a ``ModelT`` (its ``buffers`` are rewrapped in place so that every buffer's
    data starts on a 16-byte boundary, as the converter writes them)."""
    cls = _aligned_buffer_class()
    aligned = []
    for buf in model.buffers:
        new = cls()
        new.data, new.offset, new.size = buf.data, buf.offset, buf.size
        aligned.append(new)
    model.buffers = aligned
    builder = flatbuffers.Builder(1 << 16)
    builder.Finish(model.Pack(builder), file_identifier=b"TFL3")
    return bytes(builder.Output())


__all__ = [
    "INPUT_NAMES", "BUFFER_ALIGNMENT", "ModelFormatError", "TensorInfo", "litert_schema",
    "unpack_model", "is_constant", "tensor_name", "op_name", "model_ops", "tflite_ops",
    "operators", "float_tensors", "io_details", "find_inputs", "tensor_details", "pack_model",
]
