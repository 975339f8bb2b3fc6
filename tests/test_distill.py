"""The Distiller and the KD losses: NumPy references, frozen teachers, lead routing, schemes."""
import numpy as np
import pytest
import tf_keras

import lrh_tflm  # noqa: F401  (TF_USE_LEGACY_KERAS before TensorFlow)
from lrh_tflm import distill

W, C = 64, 4


def tiny_model(n_leads, name, seed, bn=True):
    """A small functional model with the project's input contract (ecg, demo) → logits."""
    tf_keras.utils.set_random_seed(seed)
    ecg = tf_keras.Input((1, W, n_leads), name="ecg")
    demo = tf_keras.Input((5,), name="demo")
    h = tf_keras.layers.Conv2D(4, (1, 5), strides=(1, 2))(ecg)
    if bn:
        h = tf_keras.layers.BatchNormalization()(h)
    h = tf_keras.layers.ReLU()(h)
    h = tf_keras.layers.GlobalAveragePooling2D()(h)
    h = tf_keras.layers.Concatenate()([h, tf_keras.layers.Dense(3)(demo)])
    return tf_keras.Model({"ecg": ecg, "demo": demo}, tf_keras.layers.Dense(C)(h), name=name)


def tiny_data(n=48, seed=0):
    rng = np.random.default_rng(seed)
    y = rng.random((n, C)) < 0.3
    ecg = rng.normal(size=(n, 1, W, 12)).astype(np.float32)
    # Make the labels learnable from lead II (index 1): a class adds an offset to it.
    offsets = y.astype(np.float32) @ np.array([1.0, -1.0, 0.5, 2.0], np.float32)
    ecg[..., 1] += offsets[:, None, None]
    demo = rng.normal(size=(n, 5)).astype(np.float32)
    return {"ecg": ecg, "demo": demo}, y.astype(np.float32)


def np_softmax(z):
    z = z - z.max(axis=-1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=-1, keepdims=True)


def np_sigmoid(z):
    return 1 / (1 + np.exp(-z))


RNG = np.random.default_rng(7)
T_LOGITS = RNG.normal(scale=3.0, size=(5, C))
S_LOGITS = RNG.normal(scale=3.0, size=(5, C))


@pytest.mark.parametrize("t_squared", [False, True])
@pytest.mark.parametrize("temperature", [1.0, 8.0])
def test_kl_softmax_matches_numpy(temperature, t_squared):
    p = np_softmax(T_LOGITS / temperature)
    q = np_softmax(S_LOGITS / temperature)
    ref = np.mean(np.sum(p * (np.log(p) - np.log(q)), axis=-1))
    ref *= temperature ** 2 if t_squared else 1.0
    got = distill.kl_softmax(T_LOGITS, S_LOGITS, temperature, t_squared=t_squared)
    assert float(got) == pytest.approx(ref, rel=1e-5)


@pytest.mark.parametrize("t_squared", [False, True])
@pytest.mark.parametrize("temperature", [1.0, 8.0])
def test_bce_sigmoid_matches_numpy(temperature, t_squared):
    target = np_sigmoid(T_LOGITS / temperature)
    pred = np_sigmoid(S_LOGITS / temperature)
    ref = np.mean(-(target * np.log(pred) + (1 - target) * np.log(1 - pred)))
    ref *= temperature ** 2 if t_squared else 1.0
    got = distill.bce_sigmoid(T_LOGITS, S_LOGITS, temperature, t_squared=t_squared)
    assert float(got) == pytest.approx(ref, rel=1e-5)


def test_losses_zero_when_student_equals_teacher():
    assert float(distill.kl_softmax(T_LOGITS, T_LOGITS, 8.0)) == pytest.approx(0.0, abs=1e-6)
    # BCE against soft targets is minimal (their entropy), and larger for another student.
    same = float(distill.bce_sigmoid(T_LOGITS, T_LOGITS, 2.0))
    assert same < float(distill.bce_sigmoid(T_LOGITS, S_LOGITS, 2.0))


def test_named_losses_and_unknown_name():
    fn = distill.distillation_loss("bce-sigmoid", t_squared=True)
    assert float(fn(T_LOGITS, S_LOGITS, 4.0)) == pytest.approx(
        float(distill.bce_sigmoid(T_LOGITS, S_LOGITS, 4.0, t_squared=True)))
    with pytest.raises(ValueError, match="unknown distillation loss"):
        distill.distillation_loss("mse")


def test_mse_logits_matches_numpy_and_ignores_temperature():
    ref = np.mean((S_LOGITS - T_LOGITS) ** 2)
    for temperature, t_squared in ((1.0, False), (8.0, True)):
        assert float(distill.mse_logits(T_LOGITS, S_LOGITS, temperature, t_squared)) == \
            pytest.approx(ref, rel=1e-5)
    assert float(distill.distillation_loss("mse-logits")(T_LOGITS, T_LOGITS, 4.0)) == 0.0


def _weights(model):
    return [np.array(w) for w in model.weights]


def test_teachers_frozen_student_trains_and_sees_own_leads():
    x, y = tiny_data()
    teacher12 = tiny_model(12, "t12", 1)
    teacher2 = tiny_model(2, "t2", 2)
    student = tiny_model(2, "s", 3)
    before_t12, before_t2, before_s = _weights(teacher12), _weights(teacher2), _weights(student)
    d = distill.Distiller(student, [(teacher12, list(range(12))), (teacher2, [0, 1])],
                          student_leads=[0, 1])
    d.compile(tf_keras.optimizers.Adam(1e-2), metrics=[distill.auroc_metric()],
              distillation_loss_fn="kl-softmax", alpha=0.2, temperature=8.0,
              teacher_weights=(0.7, 0.3))
    hist = d.fit(x, y, batch_size=16, epochs=2, verbose=0)
    assert {"loss", "student_loss", "distillation_loss", "auroc"} <= set(hist.history)
    # Teachers, BatchNorm moving statistics included, are bit-identical.
    for a, b in zip(before_t12 + before_t2, _weights(teacher12) + _weights(teacher2)):
        np.testing.assert_array_equal(a, b)
    assert any(not np.array_equal(a, b) for a, b in zip(before_s, _weights(student)))
    assert {id(v) for v in d.trainable_weights} == {id(v) for v in student.trainable_weights}
    # call/predict = the student on its own leads (I, II) of the 12-lead batch.
    np.testing.assert_allclose(
        d.predict(x, verbose=0),
        student.predict({"ecg": x["ecg"][..., :2], "demo": x["demo"]}, verbose=0),
        rtol=1e-5, atol=1e-5)


def test_total_loss_is_weighted_sum():
    x, y = tiny_data(n=16)
    teacher = tiny_model(12, "t", 1)
    student = tiny_model(2, "s", 3)
    d = distill.Distiller(student, [(teacher, list(range(12)))], student_leads=[0, 1])
    d.compile(tf_keras.optimizers.Adam(0.0), alpha=0.25, temperature=4.0,
              distillation_loss_fn="bce-sigmoid", teacher_weights=(2.0,))
    res = d.evaluate(x, y, batch_size=16, verbose=0, return_dict=True)
    s = student.predict({"ecg": x["ecg"][..., :2], "demo": x["demo"]}, verbose=0)
    t = teacher.predict(x, verbose=0)
    ref_student = float(distill.bce_from_logits(y, s))
    ref_kd = 2.0 * float(distill.bce_sigmoid(t, s, 4.0))
    assert res["student_loss"] == pytest.approx(ref_student, rel=1e-4)
    assert res["distillation_loss"] == pytest.approx(ref_kd, rel=1e-4)
    assert res["loss"] == pytest.approx(0.25 * ref_student + 0.75 * ref_kd, rel=1e-4)


@pytest.mark.parametrize("loss", ["mse-logits", "kl-softmax"])
def test_ensemble_distils_from_weighted_mean_of_teacher_logits(loss):
    x, y = tiny_data(n=16)
    t12, t2, student = tiny_model(12, "t12", 1), tiny_model(2, "t2", 2), tiny_model(2, "s", 3)
    d = distill.Distiller(student, [(t12, list(range(12))), (t2, [0, 1])], student_leads=[0, 1])
    d.compile(tf_keras.optimizers.Adam(0.0), alpha=0.5, temperature=2.0,
              distillation_loss_fn=loss, teacher_weights=(3.0, 1.0), ensemble=True)
    res = d.evaluate(x, y, batch_size=16, verbose=0, return_dict=True)
    s = student.predict({"ecg": x["ecg"][..., :2], "demo": x["demo"]}, verbose=0)
    mean = 0.75 * t12.predict(x, verbose=0) + 0.25 * t2.predict(
        {"ecg": x["ecg"][..., :2], "demo": x["demo"]}, verbose=0)
    ref = float(distill.distillation_loss(loss)(mean, s, 2.0))
    assert res["distillation_loss"] == pytest.approx(ref, rel=1e-4)
    # Not the paper's per-teacher sum, which differs for any two distinct teachers.
    d.compile(tf_keras.optimizers.Adam(0.0), alpha=0.5, temperature=2.0,
              distillation_loss_fn=loss, teacher_weights=(0.75, 0.25))
    summed = d.evaluate(x, y, batch_size=16, verbose=0, return_dict=True)["distillation_loss"]
    assert summed != pytest.approx(ref, rel=1e-4)


def test_cached_teacher_logits_give_the_live_teachers_loss():
    x, y = tiny_data(n=16)
    t12, t2, student = tiny_model(12, "t12", 1), tiny_model(2, "t2", 2), tiny_model(2, "s", 3)
    d = distill.Distiller(student, [(t12, list(range(12))), (t2, [0, 1])], student_leads=[0, 1])
    d.compile(tf_keras.optimizers.Adam(0.0), alpha=0.3, temperature=4.0,
              distillation_loss_fn="kl-softmax", teacher_weights=(0.7, 0.3))
    two = {"ecg": x["ecg"][..., :2], "demo": x["demo"]}
    cached = np.stack([t12.predict(x, verbose=0), t2.predict(two, verbose=0)], axis=1)
    live = d._loss_terms(x, y, student(two))
    from_batch = d._loss_terms({**x, distill.TEACHER_LOGITS: cached}, y, student(two))
    for a, b in zip(live, from_batch):
        assert float(a) == pytest.approx(float(b), rel=1e-5)
    # A wrong table changes the loss: the batch's logits are really the ones used.
    wrong = d._loss_terms({**x, distill.TEACHER_LOGITS: cached[::-1].copy()}, y, student(two))
    assert float(wrong[2]) != pytest.approx(float(live[2]), rel=1e-4)


def test_loss_decreases_on_tiny_set():
    x, y = tiny_data()
    teacher = tiny_model(12, "t", 1)
    d = distill.Distiller(tiny_model(2, "s", 3), [(teacher, list(range(12)))], student_leads=[0, 1])
    d.compile(tf_keras.optimizers.Adam(1e-2), alpha=0.5, temperature=2.0)
    hist = d.fit(x, y, batch_size=16, epochs=12, verbose=0, shuffle=False)
    losses = hist.history["loss"]
    assert losses[-1] < 0.8 * losses[0]


def test_none_scheme_equals_plain_bce_training():
    x, y = tiny_data(n=32)
    plain = tiny_model(2, "plain", 5, bn=False)
    via_distiller = tiny_model(2, "viad", 5, bn=False)
    via_distiller.set_weights(plain.get_weights())
    x2 = {"ecg": x["ecg"][..., :2], "demo": x["demo"]}
    plain.compile(tf_keras.optimizers.Adam(1e-2),
                  loss=tf_keras.losses.BinaryCrossentropy(from_logits=True))
    plain.fit(x2, y, batch_size=8, epochs=2, shuffle=False, verbose=0)
    d = distill.Distiller(via_distiller, [], student_leads=[0, 1])
    d.compile(tf_keras.optimizers.Adam(1e-2), alpha=0.2)  # alpha is irrelevant without teachers
    hist = d.fit(x, y, batch_size=8, epochs=2, shuffle=False, verbose=0)
    assert "distillation_loss" not in hist.history
    for a, b in zip(plain.get_weights(), via_distiller.get_weights()):
        np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-5)


def test_teacher_weight_count_checked():
    d = distill.Distiller(tiny_model(2, "s", 3), [(tiny_model(12, "t", 1), range(12))],
                          student_leads=[0, 1])
    with pytest.raises(ValueError, match="teacher weights"):
        d.compile(tf_keras.optimizers.Adam(), teacher_weights=(0.7, 0.3))


def test_schedules_are_data():
    assert distill.distill_schedule("none") == [distill.DistillStep("student", (), ())]
    assert distill.distill_schedule("vanilla")[0].teachers == ("teacher",)
    par = distill.distill_schedule("parallel", (0.6, 0.4))
    assert par == [distill.DistillStep("student", ("teacher", "assistant"), (0.6, 0.4))]
    seq = distill.distill_schedule("sequential")
    assert [s.target for s in seq] == ["assistant", "student"]
    assert seq[1].weights == (0.7, 0.3)
    assert distill.needs("sequential") == {"teacher"}
    assert distill.needs("parallel") == {"teacher", "assistant"}
    assert distill.needs("none") == set()
    with pytest.raises(ValueError, match="unknown KD scheme"):
        distill.distill_schedule("mlkd")
