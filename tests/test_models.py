"""Model builders: exact parameter counts of the paper, shapes for every lead set, MACs."""
import numpy as np
import pytest

import lrh_tflm  # noqa: F401  (TF_USE_LEGACY_KERAS before TensorFlow)
from lrh_tflm.config import StudentConfig, TeacherConfig, get_profile
from lrh_tflm.leads import LEAD_SETS
from lrh_tflm.models import build_model, build_student, build_teacher, custom_objects
from lrh_tflm.models.footprint import count_macs, count_params, layer_macs


@pytest.mark.parametrize("n_leads, expected", [(2, 8_827_460), (6, 8_831_300)])
def test_teacher_trainable_params_match_paper(n_leads, expected):
    model = build_teacher(TeacherConfig(), n_leads, 4096, 24)
    assert count_params(model)["trainable"] == expected
    # Keras's own count includes BN moving statistics (2 per channel).
    assert count_params(model)["total"] == model.count_params() > expected


@pytest.mark.parametrize("n_leads, expected", [(2, 83_236), (6, 83_748)])
def test_lrh_net_trainable_params_match_paper(n_leads, expected):
    model = build_student(StudentConfig(), n_leads, 4096, 24)
    assert count_params(model)["trainable"] == expected
    assert round(8_827_460 / count_params(build_student(StudentConfig(), 2, 4096, 24))["trainable"]) == 106


def test_params_do_not_depend_on_window():
    a = count_params(build_student(StudentConfig(), 2, 256, 24))
    b = count_params(build_student(StudentConfig(), 2, 4096, 24))
    assert a == b


def test_mcu_variant_same_plan_different_order():
    paper = build_student(StudentConfig(variant="lrh-net"), 2, 1024, 24)
    mcu = build_student(StudentConfig(variant="lrh-net-mcu", dense=128), 2, 1024, 24)
    # Same convolution plan → same MACs; no conv biases but extra BNs → 83,124 trainable.
    assert count_macs(mcu) == count_macs(paper)
    assert count_params(mcu)["trainable"] == 83_124
    # Its own head is Dense(64): (64 + 10) × 64 weights fewer in, 64 × 24 fewer out.
    own = build_student(StudentConfig(variant="lrh-net-mcu"), 2, 1024, 24)
    assert StudentConfig(variant="lrh-net-mcu").head_width == 64 == own.get_layer("head_hidden").filters
    assert StudentConfig().head_width == 128
    assert count_params(own)["trainable"] == 83_124 - 64 * 74 - 64 - 64 * 24 == 76_788
    kinds = [type(layer).__name__ for layer in mcu.layers]
    # conv → BN → ReLU in the MCU variant (foldable), conv → ReLU → BN in the paper's.
    i = [layer.name for layer in mcu.layers].index("b1_c1_conv")
    assert kinds[i + 1: i + 3] == ["BatchNormalization", "ReLU"]
    j = [layer.name for layer in paper.layers].index("b1_c1_conv")
    assert [type(layer).__name__ for layer in paper.layers][j + 1: j + 3] == ["ReLU", "BatchNormalization"]
    # No Dense in either student: SE and head are 1×1 convolutions with a Dense layer's
    # weights (units × inputs (+ bias)), so they convert to CONV_2D, not FULLY_CONNECTED.
    dense_params = {"b2_se_squeeze": 32 * 4, "b2_se_excite": 4 * 32, "head_demo": 5 * 10 + 10,
                    "head_hidden": (64 + 10) * 128 + 128, "logits_conv": 128 * 24 + 24}
    for model in (mcu, paper):
        assert "Dense" not in [type(layer).__name__ for layer in model.layers]
        for layer, n in dense_params.items():
            assert model.get_layer(layer).kernel_size == (1, 1)
            assert model.get_layer(layer).count_params() == n
        assert model.get_layer("gap").output_shape == (None, 1, 1, 64)


def test_lrh_net_macs_at_paper_window():
    model = build_student(StudentConfig(), 2, 4096, 24)
    macs = count_macs(model)
    # Exact analytic value; DESIGN §4 quotes ≈ 95 M for 2 × 4096.
    assert macs == 96_482_930
    assert 90e6 < macs < 100e6
    # MACs scale linearly with the window (all convs are 'same'-padded).
    assert count_macs(build_student(StudentConfig(), 2, 1024, 24)) == 24_131_186


def test_layer_macs_conventions():
    model = build_student(StudentConfig(), 2, 4096, 24)
    by_name = {layer.name: layer_macs(layer) for layer in model.layers}
    assert by_name["stem_conv"] == 4096 * 8 * 2 * 16
    assert by_name["b2_c1_conv"] == 2048 * 8 * 16 * 32      # stride 2 halves the output
    assert by_name["b3_down"] == 1024 * 32 * 64
    assert by_name["logits_conv"] == 128 * 24   # the head's Dense, as a 1×1 convolution
    assert by_name["logits"] == 0                 # the final Reshape
    assert by_name["b1_add"] == 0 and by_name["b1_c1_bn"] == 0


def _random_inputs(n, window, n_leads, seed=0):
    rng = np.random.default_rng(seed)
    return {"ecg": rng.normal(size=(n, 1, window, n_leads)).astype("float32"),
            "demo": rng.normal(size=(n, 5)).astype("float32")}


@pytest.mark.parametrize("n_leads", sorted(LEAD_SETS, reverse=True) + [1])
def test_forward_shapes_every_lead_set(n_leads):
    smoke = get_profile("smoke")
    window, classes = 300, 7  # a window that is not a power of two
    models = [build_teacher(smoke.teacher, n_leads, window, classes)] + [
        build_student(StudentConfig(variant=v), n_leads, window, classes)
        for v in ("lrh-net", "lrh-net-mcu")]
    for model in models:
        assert [t.name.split(":")[0] for t in model.inputs] == ["ecg", "demo"]
        assert tuple(model.inputs[0].shape) == (None, 1, window, n_leads)
        assert tuple(model.inputs[1].shape) == (None, 5)
        out = model(_random_inputs(3, window, n_leads), training=False).numpy()
        assert out.shape == (3, classes)
        assert np.isfinite(out).all()
        # Raw logits: no sigmoid in the graph, so values are not confined to [0, 1].
        assert model.layers[-1].name == "logits"
        # The MCU head ends in a 1×1 conv and a Reshape to (n_classes,) named "logits".
        scores = model.layers[-1] if model.layers[-1].__class__.__name__ != "Reshape" \
            else model.get_layer("logits_conv")
        assert scores.get_config()["activation"] == "linear"


def test_demographics_change_the_output():
    model = build_student(StudentConfig(), 2, 256, 5)
    x = _random_inputs(2, 256, 2)
    y1 = model(x, training=False).numpy()
    x["demo"] = x["demo"] + 1.0
    assert not np.allclose(y1, model(x, training=False).numpy())


def test_teacher_width_and_blocks():
    small = build_teacher(TeacherConfig(width=0.25, blocks=(1, 1, 1, 1)), 12, 512, 26)
    assert count_params(small)["trainable"] < 300_000
    assert small.get_layer("s4b1_conv1").filters == 128
    with pytest.raises(ValueError, match="blocks"):
        build_teacher(TeacherConfig(blocks=(2, 2)), 2, 512, 24)


def test_micro_levers_change_what_they_say():
    import tf_keras as keras

    mcu = build_student(StudentConfig(variant="lrh-net-mcu"), 2, 1024, 17)
    micro = build_student(StudentConfig(variant="lrh-net-micro"), 2, 1024, 17)
    design = StudentConfig(variant="lrh-net-micro").design
    # The strided stem: every block runs at half the rate or less, so the MACs drop.
    assert micro.get_layer("stem_conv").output_shape[2] == 1024 // design["stem_stride"]
    assert count_macs(micro) < count_macs(mcu) / 2
    names = {layer.name for layer in micro.layers}
    kinds = {type(layer).__name__ for layer in micro.layers}
    # Time averages as AVERAGE_POOL_2D (CMSIS-NN's SIMD pooling), not MEAN.
    assert "AveragePooling2D" in kinds and "GlobalAveragePooling2D" not in kinds
    assert micro.get_layer("gap").output_shape[1:3] == (1, 1)
    assert {f"b{b}_se_scale" for b in design["se_blocks"]} <= names
    assert not {f"b{b}_se_scale" for b in {1, 2, 3} - set(design["se_blocks"])} & names
    # Channel counts in multiples of 4 whatever the width.
    narrow = build_student(StudentConfig(variant="lrh-net-micro", width=0.7), 2, 256, 4)
    temporal = [layer for layer in narrow.layers if isinstance(layer, keras.layers.Conv2D)
                and layer.input_shape[2] != 1]
    assert temporal and all(layer.filters % 4 == 0 for layer in temporal)
    # Separable convolutions and a pooled stem.
    sep = build_student(StudentConfig(variant="lrh-net-micro", separable=True, stem_stride=1,
                                      stem_pool=2, pool="mean"), 2, 256, 4)
    kinds = {type(layer).__name__ for layer in sep.layers}
    assert {"DepthwiseConv2D", "MaxPooling2D", "GlobalAveragePooling2D"} <= kinds
    assert sep.get_layer("stem_pool").output_shape[2] == 128
    assert count_macs(sep) < count_macs(build_student(
        StudentConfig(variant="lrh-net-micro", stem_stride=1, stem_pool=2, separable=False),
        2, 256, 4))


def test_fixed_designs_refuse_micro_levers():
    with pytest.raises(ValueError, match="fixed design; separable, stem_stride"):
        build_student(StudentConfig(variant="lrh-net-mcu", stem_stride=2, separable=True), 2, 256, 4)
    with pytest.raises(ValueError, match="fixed design; se_blocks"):
        build_student(StudentConfig(variant="lrh-net", se_blocks=(3,)), 2, 256, 4)
    with pytest.raises(ValueError, match="blocks \\[4\\]"):
        build_student(StudentConfig(variant="lrh-net-micro", se_blocks=(3, 4)), 2, 256, 4)
    with pytest.raises(ValueError, match="stem_stride must be at least 1"):
        build_student(StudentConfig(variant="lrh-net-micro", stem_stride=0), 2, 256, 4)
    with pytest.raises(ValueError, match="unknown pooling 'max'"):
        build_student(StudentConfig(variant="lrh-net-micro", pool="max"), 2, 256, 4)
    # The head width stays a lever of every variant; the paper's designs are unchanged.
    assert StudentConfig(variant="lrh-net-mcu", dense=128).head_width == 128
    assert StudentConfig(variant="lrh-net").design["kernel"] == 8 == StudentConfig(
        variant="lrh-net-mcu").design["kernel"]


def test_build_model_dispatch_and_errors():
    assert build_model("student", StudentConfig(), 2, 256, 4).name == "student"
    assert build_model("teacher", TeacherConfig(width=0.125), 2, 256, 4).name == "teacher"
    with pytest.raises(ValueError, match="unknown model kind"):
        build_model("assistant", StudentConfig(), 2, 256, 4)
    with pytest.raises(ValueError, match="unknown student variant"):
        build_student(StudentConfig(variant="lrh-net-xl"), 2, 256, 4)
    with pytest.raises(ValueError, match="positive"):
        build_student(StudentConfig(), 0, 256, 4)
    assert custom_objects() == {}


def test_saved_model_round_trip(tmp_path):
    import tf_keras as keras

    model = build_student(StudentConfig(variant="lrh-net-mcu"), 2, 128, 3)
    path = tmp_path / "m.keras"
    model.save(path)
    loaded = keras.models.load_model(path, custom_objects=custom_objects())
    x = _random_inputs(1, 128, 2)
    np.testing.assert_allclose(loaded(x, training=False).numpy(), model(x, training=False).numpy(),
                               rtol=1e-5, atol=1e-6)


def test_cli_models_json():
    import json

    from click.testing import CliRunner

    from lrh_tflm.cli import cli

    result = CliRunner().invoke(cli, ["models", "--profile", "smoke", "--leads", "I,II",
                                      "--classes", "24", "--json"])
    assert result.exit_code == 0, result.output
    info = json.loads(result.output[result.output.index("{"):])
    assert info["window"] == get_profile("smoke").data.window and info["classes"] == 24
    rows = {(r["model"], r["variant"], r["leads"]): r for r in info["models"]}
    assert set(rows) == {("teacher", "se-resnet18", "12"), ("teacher", "se-resnet18", "I,II"),
                         ("student", "lrh-net", "I,II"), ("student", "lrh-net-mcu", "I,II"),
                         ("student", "lrh-net-micro", "I,II")}
    assert rows[("student", "lrh-net", "I,II")]["trainable"] == 83_236
    student = build_student(StudentConfig(), 2, info["window"], 24)
    assert rows[("student", "lrh-net", "I,II")]["macs"] == count_macs(student)
    assert rows[("student", "lrh-net-micro", "I,II")]["macs"] < rows[("student", "lrh-net-mcu", "I,II")]["macs"] / 4
    # 12-lead teacher has more stem weights than the 2-lead one.
    assert rows[("teacher", "se-resnet18", "12")]["trainable"] > rows[("teacher", "se-resnet18", "I,II")]["trainable"]


def test_cli_models_table_and_errors():
    from click.testing import CliRunner

    from lrh_tflm.cli import cli

    runner = CliRunner()
    table = runner.invoke(cli, ["models", "--profile", "smoke", "--leads", "2"])
    assert table.exit_code == 0, table.output
    assert "lrh-net-mcu" in table.output and "MACs" in table.output
    assert "26 classes" in table.output  # the scored classes by default
    bad = runner.invoke(cli, ["models", "--leads", "XY"])
    assert bad.exit_code == 1 and "unknown lead 'XY'" in bad.output
    assert "Traceback" not in bad.output


def test_cli_models_module_is_tensorflow_free():
    import subprocess
    import sys

    code = ("import sys, lrh_tflm._cli.models; "
            "sys.exit(1 if 'tensorflow' in sys.modules else 0)")
    assert subprocess.run([sys.executable, "-c", code]).returncode == 0
