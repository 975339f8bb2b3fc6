"""Training loop (selection, early stopping, resume), saved models, and the train CLI."""
import numpy as np
import pytest
import tensorflow as tf
import tf_keras

import lrh_tflm  # noqa: F401  (TF_USE_LEGACY_KERAS before TensorFlow)
from lrh_tflm import artifact, train
from lrh_tflm.config import KDConfig, StudentConfig, TeacherConfig, TrainConfig
from lrh_tflm.data.labels import scored_space
from lrh_tflm.distill import Distiller
from lrh_tflm.leads import LEADS
from lrh_tflm.models import build_student, build_teacher

WINDOW = 256
CLASSES = ["164889003", "164890007", "426783006"]  # AF, AFL, NSR
# Width 0.25: 8-channel stride-2 1×1 convs crash oneDNN gradients (see config._smoke).
TINY_TEACHER = TeacherConfig(width=0.25, blocks=(1, 1, 1, 1))
TINY_STUDENT = StudentConfig(width=1.0, dense=16)


def tiny_data(n=40, seed=0):
    rng = np.random.default_rng(seed)
    y = np.zeros((n, 3), bool)
    y[np.arange(n), rng.integers(0, 3, n)] = True
    ecg = rng.normal(size=(n, 1, WINDOW, 12)).astype(np.float32)
    t = np.arange(WINDOW) / 50.0
    ecg[y[:, 0], 0, :, 0] += np.sin(2 * np.pi * 3 * t)       # AF: a 3 Hz wave in lead I
    ecg[y[:, 1], 0, :, 1] += np.sin(2 * np.pi * 5 * t)       # AFL: 5 Hz in lead II
    demo = rng.normal(size=(n, 5)).astype(np.float32)
    return {"ecg": ecg, "demo": demo}, y


def as_ds(inputs, y, batch=8):
    return tf.data.Dataset.from_tensor_slices((inputs, y.astype(np.float32))).batch(batch)


def student(n_leads=2):
    tf_keras.utils.set_random_seed(0)
    return build_student(TINY_STUDENT, n_leads, WINDOW, len(CLASSES))


CFG = TrainConfig(epochs=2, batch_size=8, lr=3e-3, lr_drops=(), patience=3)


def test_step_schedule_and_strategy():
    sched = train.step_schedule(TrainConfig(lr=1e-2, lr_drops=(2, 4), lr_factor=0.1))
    assert [sched(e) for e in (0, 1, 2, 3, 4, 9)] == pytest.approx(
        [1e-2, 1e-2, 1e-3, 1e-3, 1e-4, 1e-4])
    assert train.get_strategy("default").num_replicas_in_sync == 1
    with pytest.raises(ValueError, match="unknown strategy"):
        train.get_strategy("tpu-pod")


def test_train_model_logs_selects_and_tunes(tmp_path):
    x, y = tiny_data()
    xv, yv = tiny_data(24, seed=1)
    d = Distiller(student(), [], student_leads=[0, 1])
    res = train.train_model(d, as_ds(x, y), None, CFG, tmp_path, classes=CLASSES,
                            val_data=(xv, yv), verbose=0)
    hist = train.read_history(tmp_path / "history.csv")
    assert hist["epoch"] == [0, 1]
    assert {"loss", "student_loss", "auroc", "val_loss", "val_auroc", "val_score",
            "lr"} <= set(hist)
    assert res.extra["tensorboard"] == any((tmp_path / "tb").rglob("events.out.tfevents*"))
    assert not (tmp_path / "backup").exists() or not any((tmp_path / "backup").iterdir())
    assert res.score_name == "challenge" and res.epochs_run == 2 and not res.resumed
    assert res.best_epoch == int(np.argmax(hist["val_score"]))
    # The returned model carries the best epoch's weights: it reproduces that epoch's score.
    probs = train.predict_probs(d, xv)
    assert train.validation_score(yv, probs, CLASSES) == pytest.approx(res.best_score, abs=1e-9)
    assert res.thresholds.shape == (3,)
    assert res.val_metrics["score"] >= res.val_metrics["score_at_0_5"] - 1e-9
    assert res.model is d.student


def test_plain_model_is_wrapped_and_early_stopping(tmp_path):
    x, y = tiny_data(16)
    cfg = TrainConfig(epochs=6, batch_size=8, lr=0.0, lr_drops=(), patience=1)
    res = train.train_model(student(), as_ds(x, y), None, cfg, tmp_path, classes=CLASSES,
                            val_data=(x, y), leads=[0, 1], verbose=0)
    # lr 0: nothing improves after epoch 0, so patience 1 stops after epoch 1.
    assert res.stopped_early and res.epochs_run == 2 and res.best_epoch == 0


class Interrupt(tf_keras.callbacks.Callback):
    """Simulates a kill in the middle of epoch 1."""

    def on_train_batch_end(self, batch, logs=None):
        if self._epoch == 1 and batch == 1:
            raise KeyboardInterrupt("simulated kill")

    def on_epoch_begin(self, epoch, logs=None):
        self._epoch = epoch


def test_resume_after_interruption(tmp_path):
    x, y = tiny_data(16)
    xv, yv = tiny_data(16, seed=1)
    with pytest.raises(KeyboardInterrupt):
        train.train_model(student(), as_ds(x, y), None, CFG, tmp_path, classes=CLASSES,
                          leads=[0, 1], val_data=(xv, yv), verbose=0, callbacks=[Interrupt()])
    assert train.read_history(tmp_path / "history.csv")["epoch"] == [0]
    assert any((tmp_path / "backup").iterdir())
    res = train.train_model(student(), as_ds(x, y), None, CFG, tmp_path, classes=CLASSES,
                            leads=[0, 1], val_data=(xv, yv), verbose=0)
    assert res.resumed
    assert train.read_history(tmp_path / "history.csv")["epoch"] == [0, 1]
    assert res.epochs_run == 2


def test_distillation_through_train_model(tmp_path):
    x, y = tiny_data(16)
    tf_keras.utils.set_random_seed(1)
    teacher = build_teacher(TINY_TEACHER, 12, WINDOW, len(CLASSES))
    before = [w.numpy().copy() for w in teacher.weights]
    d = Distiller(student(), [(teacher, list(range(12)))], student_leads=[0, 1])
    cfg = TrainConfig(epochs=1, batch_size=8, lr=3e-3, lr_drops=(), patience=3)
    train.train_model(d, as_ds(x, y), as_ds(x, y), cfg, tmp_path, classes=CLASSES,
                      val_data=(x, y), kd=KDConfig(loss="bce-sigmoid"), verbose=0)
    hist = train.read_history(tmp_path / "history.csv")
    assert "distillation_loss" in hist and "val_distillation_loss" in hist
    for a, b in zip(before, teacher.weights):
        np.testing.assert_array_equal(a, b.numpy())


def _sidecar(kind, cfg, n_leads, leads):
    space = scored_space().subset([0, 1, 14])
    return {"kind": kind, "model_config": cfg, "n_leads": n_leads, "window": WINDOW,
            "n_classes": 3, "leads": leads, "classes": space.to_dict(), "fs": 100.0,
            "thresholds": [0.3, 0.5, 0.6], "metrics": {"val": {"score": 0.5}}}


@pytest.mark.parametrize("kind", ["student", "teacher"])
def test_save_load_round_trip(tmp_path, kind):
    x, _ = tiny_data(4)
    if kind == "student":
        model, cfg, n = student(), TINY_STUDENT, 2
    else:
        model, cfg, n = build_teacher(TINY_TEACHER, 12, WINDOW, 3), TINY_TEACHER, 12
    # Move BN statistics away from their initial values so a wrong restore would show.
    for w in model.weights:
        w.assign(w + 0.01 * tf.random.normal(w.shape))
    leads = ["I", "II"] if n == 2 else list(LEADS)
    inputs = {"ecg": x["ecg"][..., :n], "demo": x["demo"]}
    path = artifact.save_model(model, tmp_path / "m", _sidecar(kind, cfg, n, leads))
    loaded, meta = artifact.load_model(path)
    np.testing.assert_array_equal(model.predict(inputs, verbose=0),
                                  loaded.predict(inputs, verbose=0))
    assert meta["leads"] == leads and meta["version"] == lrh_tflm.__version__
    assert meta["model_config"]["width"] == cfg.width and "created" in meta
    assert artifact.config_from_dict(kind, meta["model_config"]) == cfg
    # Saving again replaces the folder atomically; no temporary folders are left behind.
    artifact.save_model(model, path, _sidecar(kind, cfg, n, leads))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m"]


def test_saved_errors(tmp_path):
    with pytest.raises(FileNotFoundError, match="not a saved model"):
        artifact.load_model(tmp_path)
    with pytest.raises(ValueError, match="missing"):
        artifact.save_model(student(), tmp_path / "x", {"kind": "student"})
    bad = _sidecar("student", TINY_STUDENT, 2, ["I"])
    with pytest.raises(ValueError, match="leads"):
        artifact.save_model(student(), tmp_path / "x", bad)
    assert not (tmp_path / "x").exists()
    (tmp_path / "j").mkdir()
    (tmp_path / "j" / "sidecar.json").write_text("{not json")
    with pytest.raises(ValueError, match="not valid JSON"):
        artifact.read_sidecar(tmp_path / "j")


# --------------------------------------------------------------------------- CLI
@pytest.fixture(scope="module")
def tiny_records(tmp_path_factory):
    from lrh_tflm.config import SynthConfig
    from lrh_tflm.data.synthetic import write_dataset

    folder = tmp_path_factory.mktemp("synth")
    write_dataset(folder, SynthConfig(records=40, seed=3, fs=100, seconds=10.0), progress=False,
                  workers=1)
    return folder


def _invoke(args):
    from click.testing import CliRunner

    from lrh_tflm.cli import cli

    return CliRunner().invoke(cli, args, catch_exceptions=False)


def test_cli_train_then_distill(tiny_records, tmp_path):
    common = ["--data", f"challenge:{tiny_records}", "--profile", "smoke", "--epochs", "1",
              "--cache", str(tmp_path / "cache"), "--workers", "1", "--verbose", "0"]
    res = _invoke(["train", "teacher", "--out", str(tmp_path / "t"), *common])
    assert res.exit_code == 0, res.output
    assert "teacher [12]: val score" in res.output and "test score" in res.output
    res = _invoke(["distill", "--teacher", str(tmp_path / "t" / "model"), "--kd", "vanilla",
                   "--loss", "bce-sigmoid", "--leads", "I,II", "--out", str(tmp_path / "s"),
                   *common])
    assert res.exit_code == 0, res.output
    assert "student [I,II]" in res.output
    model, meta = artifact.load_model(tmp_path / "s" / "model")
    assert meta["leads"] == ["I", "II"] and meta["kind"] == "student"
    assert meta["kd"]["scheme"] == "vanilla" and meta["kd"]["loss"] == "bce-sigmoid"
    assert meta["kd"]["teachers"][0]["leads"] == list(LEADS)
    assert meta["fs"] == 100.0 and meta["window"] == 512
    assert len(meta["thresholds"]) == meta["n_classes"] == len(meta["classes"]["classes"])
    assert {"val", "test"} <= set(meta["metrics"]) and meta["data"]["profile"] == "smoke"
    assert train.read_history(tmp_path / "s" / "train" / "history.csv")["epoch"] == [0]


def test_cli_user_errors(tmp_path):
    res = _invoke(["distill", "--kd", "parallel", "--out", str(tmp_path / "o")])
    assert res.exit_code == 2 and "needs --assistant and --teacher" in res.output
    res = _invoke(["train", "student", "--data", str(tmp_path / "nowhere"), "--out",
                   str(tmp_path / "o"), "--cache", str(tmp_path / "c")])
    assert res.exit_code == 1 and "Error:" in res.output and "Traceback" not in res.output
    (tmp_path / "fake").mkdir()
    res = _invoke(["distill", "--teacher", str(tmp_path / "fake"), "--kd", "vanilla", "--out",
                   str(tmp_path / "o")])
    assert res.exit_code == 1 and "not a saved model" in res.output


def test_selection_score_falls_back_to_auroc_without_normal_class():
    y = np.array([[1, 0], [0, 1], [1, 0], [0, 1]], bool)
    probs = np.array([[0.4, 0.1], [0.2, 0.3], [0.3, 0.2], [0.1, 0.45]])
    assert train.score_name(["164889003", "164890007"]) == "auroc"
    assert train.validation_score(y, probs, ["164889003", "164890007"]) == pytest.approx(1.0)
    assert train.score_name(CLASSES) == "challenge"


def test_mirrored_strategy(tmp_path):
    x, y = tiny_data(16)
    strategy = train.get_strategy("mirrored")
    with strategy.scope():
        d = Distiller(student(), [], student_leads=[0, 1])
    cfg = TrainConfig(epochs=1, batch_size=8, lr=3e-3, lr_drops=(), patience=3)
    res = train.train_model(d, as_ds(x, y), None, cfg, tmp_path, classes=CLASSES,
                            val_data=(x, y), strategy=strategy, verbose=0)
    assert res.epochs_run == 1 and np.isfinite(res.history["loss"][0])


@pytest.mark.parametrize("strategy", ["default", "mirrored"])
def test_each_step_is_traced_once(tmp_path, monkeypatch, strategy):
    """A metric whose variables the first step creates (AUROC sized by its first labels)
    makes tf.function trace that step twice: train_model sizes it, under any strategy."""
    traced = {"train": 0, "test": 0}
    for kind in traced:
        original = getattr(Distiller, f"{kind}_step")

        def counted(self, data, _kind=kind, _original=original):
            traced[_kind] += 1
            return _original(self, data)

        monkeypatch.setattr(Distiller, f"{kind}_step", counted)
    x, y = tiny_data(16)
    strat = train.get_strategy(strategy)
    with strat.scope():
        d = Distiller(student(), [], student_leads=[0, 1])
    train.train_model(d, as_ds(x, y), as_ds(x, y), CFG, tmp_path, classes=CLASSES,
                      val_data=(x, y), strategy=strat, verbose=0)
    assert traced == {"train": 1, "test": 1}


def test_predict_probs_averages_windows_of_a_record():
    from lrh_tflm.train import predict_probs

    class Echo:
        def predict(self, inputs, batch_size, verbose):
            return inputs["ecg"][:, 0, 0, :2].astype(np.float64) + inputs["demo"][:, :2]

    ecg = np.zeros((3, 4, 1, 8, 2), np.float32)
    ecg[:, :, 0, 0, 0] = np.arange(12).reshape(3, 4)
    demo = np.zeros((3, 5), np.float32)
    probs = predict_probs(Echo(), {"ecg": ecg, "demo": demo})
    sig = 1 / (1 + np.exp(-np.arange(12).reshape(3, 4)))
    np.testing.assert_allclose(probs[:, 0], sig.mean(axis=1))
    np.testing.assert_allclose(probs[:, 1], 0.5)
    flat = predict_probs(Echo(), {"ecg": ecg[:, 0], "demo": demo})
    np.testing.assert_allclose(flat[:, 0], sig[:, 0])


def test_predictions_round_trip_and_patient_schedule(tmp_path):
    from lrh_tflm.config import KDConfig, TrainConfig
    from lrh_tflm.train import distilled_train_config, load_predictions, save_predictions

    probs, y = np.random.default_rng(0).random((4, 3)), np.eye(4, 3, dtype=bool)
    path = save_predictions(tmp_path / "p.npz", val=(probs, y), test=(probs[:2], y[:2]),
                            names={"val": list("abcd"), "test": ["a", "b"]})
    back = load_predictions(path)
    np.testing.assert_allclose(back["val"]["probs"], probs.astype(np.float32))
    assert back["test"]["y"].tolist() == y[:2].tolist() and list(back["val"]["names"]) == list("abcd")
    cfg = TrainConfig(epochs=10, lr_drops=(7,), patience=4)
    assert distilled_train_config(cfg, KDConfig()) is cfg
    long = distilled_train_config(cfg, KDConfig(epochs=20))
    assert (long.epochs, long.lr_drops, long.patience) == (20, (14,), 8)


def test_teacher_logit_table_is_the_teachers_grid_predictions_and_is_cached(tmp_path):
    from pathlib import Path

    from lrh_tflm.config import PreprocessConfig
    from lrh_tflm.data.cache import PreparedData
    from lrh_tflm.data.pipeline import grid_windows

    rng = np.random.default_rng(3)
    n, cache_len, step = 6, WINDOW + 100, 50
    x = rng.normal(size=(n, cache_len, 12)).astype(np.float32)
    valid = np.array([cache_len, cache_len, WINDOW + 60, WINDOW, cache_len, WINDOW + 10], np.int32)
    prep = PreparedData(x=x, valid_len=valid, y=np.zeros((n, 3), bool),
                        demo=rng.normal(size=(n, 5)).astype(np.float32),
                        names=tuple(f"R{i}" for i in range(n)), folds=None,
                        classes=scored_space().subset([0, 1, 2]),
                        pre=PreprocessConfig(fs=50.0, window=WINDOW, cache_len=cache_len),
                        path=Path(tmp_path), manifest={"key": "k"})
    model = student(2)
    idx = np.array([0, 2, 3, 5])
    table = train.teacher_logit_table(model, prep, idx, window=WINDOW, step=step,
                                      leads=("I", "II"), cache_dir=tmp_path / "cache")
    assert table.shape == (n, 3, 3)
    assert not table[[1, 4]].any()  # records outside the split stay zero
    for pos, ecg, demo in grid_windows(prep, idx, WINDOW, step, leads=("I", "II")):
        for j, i in enumerate(idx[pos]):
            ref = model.predict({"ecg": ecg[j], "demo": np.repeat(demo[j:j + 1], 3, axis=0)},
                                verbose=0)
            np.testing.assert_allclose(table[i], ref, rtol=1e-4, atol=1e-5)
    files = list((tmp_path / "cache").glob("*.npy"))
    assert len(files) == 1
    np.save(files[0], table + 1.0)  # a second call reads the cache instead of predicting
    again = train.teacher_logit_table(model, prep, idx, window=WINDOW, step=step,
                                      leads=("I", "II"), cache_dir=tmp_path / "cache")
    np.testing.assert_allclose(again, table + 1.0)


def test_validation_windows_per_record_select_on_the_record_mean(tmp_path):
    """Validation data with a window axis (eval_hop) trains without a validation dataset:
    Keras's val_loss sees single windows, selection and thresholds the per-record mean."""
    x, y = tiny_data()
    xv, yv = tiny_data(24, seed=1)
    windows = {"ecg": np.stack([xv["ecg"], xv["ecg"][:, :, ::-1]], axis=1), "demo": xv["demo"]}
    d = Distiller(student(), [], student_leads=[0, 1])
    res = train.train_model(d, as_ds(x, y), None, CFG, tmp_path, classes=CLASSES,
                            val_data=(windows, yv), verbose=0)
    hist = train.read_history(tmp_path / "history.csv")
    assert "val_loss" in hist and res.epochs_run == 2
    probs = train.predict_probs(d, windows)
    assert probs.shape == (24, 3)
    assert train.validation_score(yv, probs, CLASSES) == pytest.approx(res.best_score, abs=1e-9)
