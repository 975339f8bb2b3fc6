"""Lay a converted int8 flatbuffer out for a microcontroller: names stripped, arena planned.

The TFLite converter's output carries things a microcontroller never reads, and TFLM's
default memory planner leaves a hole in the arena:

* **Tensor names.**  Every intermediate tensor is named after the Keras ops folded into it
  (``student/quant_b3_c2_bn/FusedBatchNormV3;student/quant_b3_c2_conv/Conv2D;…``): about
  5 KB of flash on LRH-Net.  :func:`layout_for_mcu` blanks them; the input and output names
  stay (they are the model contract: ``ecg``, ``demo``, the logits).
* **Arena.**  TFLM's ``GreedyMemoryPlanner`` places activation buffers largest first.  With
  many buffers of the same size (LRH-Net's three blocks all produce 16 KB tensors at
  1024 samples) it packs them into more slots than are ever live together — 4 × 16 KB where
  3 × 16 KB suffice.  :func:`plan_arena` assigns offsets in execution order instead (first fit
  by creation time, which is optimal for equal sizes), checks the plan against the lower
  bound (the most bytes live at any one operator) and :func:`layout_for_mcu` stores it as
  the ``OfflineMemoryAllocation`` metadata TFLM reads (tflite-micro
  ``docs/memory_management.md``).  LiteRT ignores the metadata; TFLM plans the remaining
  buffers (kernel scratch) around the fixed offsets.

Buffers keep the converter's 16-byte alignment when the flatbuffer is written back.  Only
LiteRT's bundled flatbuffer schema is used (no TensorFlow import).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from lrh_tflm.tflite.schema import (
    BUFFER_ALIGNMENT,
    is_constant,
    litert_schema,
    pack_model,
    unpack_model,
)

#: Metadata name TFLM looks for (micro_allocation_info.cc) and the format version it expects.
OFFLINE_PLAN_METADATA = "OfflineMemoryAllocation"
OFFLINE_PLAN_VERSION = 1
#: Offset meaning "let TFLM's planner place this tensor" (constants, unused tensors).
ONLINE = -1


class LayoutError(ValueError):
    """A flatbuffer this module cannot lay out (the message says why)."""


@dataclass(frozen=True)
class ArenaPlan:
    """Offsets of the activation tensors in TFLM's arena head.

    Attributes
    ----------
    offsets
        One entry per tensor of subgraph 0: byte offset from the start of the arena head, or
        ``-1`` for tensors TFLM does not allocate (constants).
    head_bytes
        End of the highest planned buffer: the head TFLM needs for tensors.
    lower_bound
        The most bytes (16-byte aligned) live at any one operator: no plan can be smaller.
    lifetimes
        ``(first, last)`` allocation scope of every planned tensor, as TFLM counts them
        (graph inputs are created at scope 0, operator ``i`` runs in scope ``i + 1``).
    """

    offsets: tuple[int, ...]
    head_bytes: int
    lower_bound: int
    lifetimes: dict[int, tuple[int, int]]


def _aligned(n: int) -> int:
    return (n + BUFFER_ALIGNMENT - 1) // BUFFER_ALIGNMENT * BUFFER_ALIGNMENT


def _unpack(tflite: bytes):
    return unpack_model(tflite, LayoutError)


def _tensor_bytes(tensor) -> int:
    schema = litert_schema()
    size = {schema.TensorType.FLOAT32: 4, schema.TensorType.FLOAT16: 2,
            schema.TensorType.INT32: 4, schema.TensorType.UINT8: 1, schema.TensorType.INT64: 8,
            schema.TensorType.BOOL: 1, schema.TensorType.INT16: 2, schema.TensorType.INT8: 1,
            schema.TensorType.FLOAT64: 8, schema.TensorType.UINT64: 8,
            schema.TensorType.UINT32: 4, schema.TensorType.UINT16: 2}.get(int(tensor.type))
    if size is None:
        raise LayoutError(f"tensor {tensor.name!r} has a type ({tensor.type}) the planner does not know")
    shape = [] if tensor.shape is None else [int(d) for d in tensor.shape]
    if any(d < 0 for d in shape):
        raise LayoutError(f"tensor {tensor.name!r} has a dynamic shape {shape}; convert with batch 1")
    return int(np.prod(shape, dtype=np.int64)) * size


def _lifetimes(model) -> dict[int, tuple[int, int]]:
    """Allocation scopes of the tensors TFLM plans, counted the way TFLM counts them."""
    if len(model.subgraphs) != 1:
        raise LayoutError(f"expected one subgraph, found {len(model.subgraphs)}")
    sub = model.subgraphs[0]
    first: dict[int, int] = {}
    last: dict[int, int] = {}

    def touch(index: int, scope: int, created: bool) -> None:
        if index < 0 or is_constant(model, sub.tensors[index]):
            return
        if created and index not in first:
            first[index] = last[index] = scope
        elif index in first:
            last[index] = max(last[index], scope)

    for index in list(sub.inputs) + list(sub.outputs):
        touch(int(index), 0, True)
    ops = sub.operators or []
    for i, op in enumerate(ops):
        scope = i + 1
        for index in op.outputs:
            touch(int(index), scope, True)
        for index in list(op.inputs) + list(op.outputs):
            touch(int(index), scope, False)
    for index in sub.outputs:
        touch(int(index), len(ops), False)
    return {i: (first[i], last[i]) for i in first if _tensor_bytes(sub.tensors[i]) > 0}


def _first_fit(order, sizes, lifetimes) -> dict[int, int]:
    placed: dict[int, int] = {}
    for t in order:
        lo, hi = lifetimes[t]
        busy = sorted((placed[u], placed[u] + sizes[u]) for u in placed
                      if not (lifetimes[u][1] < lo or hi < lifetimes[u][0]))
        offset = 0
        for start, end in busy:
            if offset + sizes[t] <= start:
                break
            offset = max(offset, end)
        placed[t] = offset
    return placed


def plan_arena(tflite: bytes) -> ArenaPlan:
    """Plan the arena head of a single-subgraph flatbuffer.

    Two first-fit orders are tried — by creation time (optimal when the buffers have one
    size) and largest first (TFLM's own order) — and the smaller head is kept.

    Parameters
    ----------
    tflite
        The flatbuffer (static shapes).

    Returns
    -------
    ArenaPlan

    Raises
    ------
    LayoutError
        Not a flatbuffer, several subgraphs, or dynamic shapes.
    """
    return _plan(_unpack(tflite))


def _plan(model) -> ArenaPlan:
    lifetimes = _lifetimes(model)
    sub = model.subgraphs[0]
    sizes = {t: _aligned(_tensor_bytes(sub.tensors[t])) for t in lifetimes}
    by_time = sorted(lifetimes, key=lambda t: (lifetimes[t][0], -sizes[t], t))
    by_size = sorted(lifetimes, key=lambda t: (-sizes[t], lifetimes[t][0], t))
    plans = [_first_fit(order, sizes, lifetimes) for order in (by_time, by_size)]
    heads = [max((p[t] + sizes[t] for t in p), default=0) for p in plans]
    best = int(np.argmin(heads))
    scopes = range(0, len(sub.operators or []) + 1)
    lower = max((sum(sizes[t] for t, (a, b) in lifetimes.items() if a <= s <= b) for s in scopes),
                default=0)
    offsets = tuple(plans[best].get(i, ONLINE) for i in range(len(sub.tensors)))
    return ArenaPlan(offsets=offsets, head_bytes=heads[best], lower_bound=lower,
                     lifetimes=lifetimes)


def check_plan(plan: ArenaPlan, tflite: bytes) -> None:
    """Raise :class:`LayoutError` if two tensors alive at the same time share arena bytes."""
    _check(plan, _unpack(tflite))


def _check(plan: ArenaPlan, model) -> None:
    sub = model.subgraphs[0]
    spans = {t: (plan.offsets[t], plan.offsets[t] + _tensor_bytes(sub.tensors[t]))
             for t in plan.lifetimes}
    for t, (a0, a1) in spans.items():
        if plan.offsets[t] % BUFFER_ALIGNMENT:
            raise LayoutError(f"tensor {t} at offset {plan.offsets[t]} is not 16-byte aligned")
        for u, (b0, b1) in spans.items():
            if u <= t:
                continue
            (s0, e0), (s1, e1) = plan.lifetimes[t], plan.lifetimes[u]
            if s0 <= e1 and s1 <= e0 and a0 < b1 and b0 < a1:
                raise LayoutError(f"tensors {t} and {u} are alive together but overlap in the arena")


def layout_for_mcu(tflite: bytes, *, strip_names: bool = True,
                   plan: bool = True) -> bytes:
    """Return the flatbuffer with intermediate names blanked and the arena plan embedded.

    Idempotent: an existing ``OfflineMemoryAllocation`` entry is replaced.  Weights, graph and
    quantisation are untouched, so every runtime computes exactly what it computed before.

    Parameters
    ----------
    tflite
        A converted single-subgraph flatbuffer with static shapes.
    strip_names
        Blank the names of all tensors except the subgraph inputs and outputs.
    plan
        Embed :func:`plan_arena`'s offsets as TFLM offline-planning metadata.

    Returns
    -------
    bytes
    """
    schema = litert_schema()
    model = _unpack(tflite)
    sub = model.subgraphs[0] if model.subgraphs else None
    if sub is None:
        raise LayoutError("the flatbuffer has no subgraph")
    if strip_names:
        keep = {int(i) for i in list(sub.inputs) + list(sub.outputs)}
        for i, tensor in enumerate(sub.tensors):
            if i not in keep:
                tensor.name = b""
    metadata = list(model.metadata or [])
    entry = next((m for m in metadata if _name(m) == OFFLINE_PLAN_METADATA), None)
    if plan:
        arena = _plan(model)
        _check(arena, model)
        words = np.array([OFFLINE_PLAN_VERSION, 1, len(arena.offsets), *arena.offsets],
                         dtype="<i4")
        if entry is None:  # a new buffer and entry; a re-layout overwrites its own buffer
            model.buffers.append(schema.BufferT())
            entry = schema.MetadataT()
            entry.name = OFFLINE_PLAN_METADATA.encode()
            entry.buffer = len(model.buffers) - 1
            metadata.append(entry)
        model.buffers[entry.buffer].data = np.frombuffer(words.tobytes(), dtype=np.uint8)
    model.metadata = metadata
    return pack_model(model)


def _name(entry) -> str:
    return entry.name.decode() if isinstance(entry.name, bytes) else str(entry.name)


def without_plan(tflite: bytes) -> bytes:
    """The flatbuffer with its offline arena plan removed (unchanged if it has none).

    A plan shares arena bytes between tensors that are never alive together, which TFLM
    refuses in its preserve-all-tensors debugging mode (every tensor kept); remove it there.
    """
    model = _unpack(tflite)
    entries = [m for m in (model.metadata or []) if _name(m) == OFFLINE_PLAN_METADATA]
    if not entries:
        return bytes(tflite)
    for entry in entries:
        model.buffers[entry.buffer].data = None
    model.metadata = [m for m in model.metadata if _name(m) != OFFLINE_PLAN_METADATA]
    return pack_model(model)


def embedded_plan(tflite: bytes) -> tuple[int, ...] | None:
    """The offsets stored in the flatbuffer's ``OfflineMemoryAllocation`` metadata, if any."""
    model = _unpack(tflite)
    for entry in model.metadata or []:
        if _name(entry) == OFFLINE_PLAN_METADATA:
            words = np.frombuffer(np.asarray(model.buffers[entry.buffer].data, np.uint8).tobytes(),
                                  dtype="<i4")
            return tuple(int(w) for w in words[3:3 + int(words[2])])
    return None


__all__ = ["ArenaPlan", "LayoutError", "OFFLINE_PLAN_METADATA", "plan_arena", "check_plan",
           "layout_for_mcu", "without_plan", "embedded_plan"]
