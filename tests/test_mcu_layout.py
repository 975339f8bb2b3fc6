"""The MCU layout: stripped names, an offline arena plan TFLM honours, arithmetic unchanged."""
from __future__ import annotations

import numpy as np
import pytest

import lrh_tflm  # noqa: F401
from lrh_tflm.config import StudentConfig
from lrh_tflm.tflite.layout import (
    OFFLINE_PLAN_METADATA,
    ArenaPlan,
    LayoutError,
    check_plan,
    embedded_plan,
    layout_for_mcu,
    plan_arena,
)
from lrh_tflm.tflite.runtime import make_runner, measure_arena
from lrh_tflm.tflite.schema import io_details

WINDOW = 256


@pytest.fixture(scope="module")
def raw_int8():
    """A converted (untrained) LRH-Net-MCU without the layout step."""
    import tf_keras as keras

    from lrh_tflm.models.student import build_student
    from lrh_tflm.tflite.convert import convert_int8

    # Seeded: XNNPACK refuses to prepare some random untrained models at all (seed 0 and 5 of
    # 8 here, with or without the layout step), and this test compares all three runtimes.
    keras.utils.set_random_seed(1)
    model = build_student(StudentConfig(variant="lrh-net-mcu", dense=32), 2, WINDOW, 4)
    rng = np.random.default_rng(0)
    rep = [(rng.normal(size=(1, 1, WINDOW, 2)).astype(np.float32),
            rng.normal(size=(1, 5)).astype(np.float32)) for _ in range(4)]
    return convert_int8(model, rep, mcu_layout=False)


def _schema_model(tflite: bytes):
    from ai_edge_litert import schema_py_generated as schema

    return schema.Model.GetRootAs(bytearray(tflite), 0)


def test_plan_reaches_the_lower_bound_and_is_valid(raw_int8):
    plan = plan_arena(raw_int8)
    assert isinstance(plan, ArenaPlan)
    check_plan(plan, raw_int8)
    # LRH-Net's blocks all produce same-size tensors: first fit by creation time is optimal.
    assert plan.head_bytes == plan.lower_bound > 0
    assert all(o % 16 == 0 for o in plan.offsets if o >= 0)


def test_check_plan_catches_overlap(raw_int8):
    plan = plan_arena(raw_int8)
    live = sorted(plan.lifetimes)
    # Two tensors alive together (an op's input and output) forced onto the same offset.
    a, b = next((t, u) for t in live for u in live if t < u
                and plan.lifetimes[t][0] <= plan.lifetimes[u][1]
                and plan.lifetimes[u][0] <= plan.lifetimes[t][1])
    offsets = list(plan.offsets)
    offsets[b] = offsets[a]
    bad = ArenaPlan(tuple(offsets), plan.head_bytes, plan.lower_bound, plan.lifetimes)
    with pytest.raises(LayoutError, match="overlap"):
        check_plan(bad, raw_int8)


def test_layout_shrinks_arena_and_flash_without_changing_outputs(raw_int8):
    laid = layout_for_mcu(raw_int8)
    assert len(laid) < len(raw_int8)
    plan = plan_arena(raw_int8)
    assert embedded_plan(laid) == plan.offsets
    assert embedded_plan(raw_int8) is None
    # TFLM reads the plan: the arena it needs is the planned head plus its persistent tail.
    assert measure_arena(laid) <= measure_arena(raw_int8)
    rng = np.random.default_rng(1)
    for runtime in ("tflm", "litert-ref", "litert"):
        before, after = make_runner(raw_int8, runtime), make_runner(laid, runtime)
        for _ in range(3):
            ecg = rng.integers(-128, 128, size=before.ecg.shape, dtype=np.int8)
            demo = rng.integers(-128, 128, size=before.demo.shape, dtype=np.int8)
            assert np.array_equal(before.run(ecg, demo), after.run(ecg, demo)), runtime


def test_names_stripped_except_the_contract(raw_int8):
    laid = layout_for_mcu(raw_int8)
    ins, outs = io_details(laid)
    assert {i.name for i in ins} == {i.name for i in io_details(raw_int8)[0]}
    assert [o.name for o in outs] == [o.name for o in io_details(raw_int8)[1]]
    sub = _schema_model(laid).Subgraphs(0)
    contract = {sub.Inputs(i) for i in range(sub.InputsLength())} | \
               {sub.Outputs(i) for i in range(sub.OutputsLength())}
    named = [i for i in range(sub.TensorsLength()) if sub.Tensors(i).Name()]
    assert set(named) == contract


def test_buffers_stay_16_byte_aligned_and_layout_is_idempotent(raw_int8):
    laid = layout_for_mcu(raw_int8)
    model = _schema_model(laid)
    for i in range(model.BuffersLength()):
        buf = model.Buffers(i)
        if buf.DataLength():
            assert buf._tab.Vector(buf._tab.Offset(4)) % 16 == 0, f"buffer {i}"
    again = layout_for_mcu(laid)
    assert embedded_plan(again) == embedded_plan(laid)
    names = [model.Metadata(i).Name() for i in range(model.MetadataLength())]
    assert names.count(OFFLINE_PLAN_METADATA.encode()) == 1
    assert len(again) == len(laid)


def test_garbage_is_a_clear_error():
    with pytest.raises(LayoutError, match="not a TFLite flatbuffer"):
        layout_for_mcu(b"this is not a model")


def test_without_plan_and_first_divergence_on_a_planned_model(raw_int8):
    from lrh_tflm.tflite.layout import without_plan
    from lrh_tflm.tflite.parity import first_divergence

    laid = layout_for_mcu(raw_int8)
    bare = without_plan(laid)
    assert embedded_plan(bare) is None and without_plan(raw_int8) == raw_int8
    assert measure_arena(bare) >= measure_arena(laid)
    # TFLM's preserve-all-tensors mode cannot honour a plan that shares memory; the op-by-op
    # comparison drops it and still runs (and finds this bit-exact model exact).
    runner = make_runner(laid, "tflm")
    rng = np.random.default_rng(3)
    ecg = rng.integers(-128, 128, size=runner.ecg.shape, dtype=np.int8)
    demo = rng.integers(-128, 128, size=runner.demo.shape, dtype=np.int8)
    assert first_divergence(laid, ecg, demo) is None
