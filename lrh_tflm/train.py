"""Training: one loop for teachers, assistants and students, resumable, selected on the score.

:func:`train_model` runs ``fit`` on a :class:`~lrh_tflm.distill.Distiller` (a plain model is
wrapped in one with no teachers, so every stage shares this code path) with

* Adam and the paper's step schedule (``lr × factor`` at each epoch in ``lr_drops``);
* a per-epoch validation challenge score (sigmoid probabilities, threshold 0.5) logged as
  ``val_score``; label spaces without the normal class fall back to macro AUROC;
* early stopping and best-epoch selection on ``val_score``, the best weights restored;
* ``history.csv`` (CSVLogger), TensorBoard logs in ``tb/`` (when the optional
  ``tensorboard`` package is installed: TensorFlow 2.21 no longer pulls it in), Keras
  progress output;
* resume after interruption: ``BackupAndRestore(out_dir/"backup")`` restores model, optimiser
  and epoch; the best-so-far state lives in ``best.json`` + ``best.weights.h5`` so it
  survives the restart too.

After training, per-class thresholds are tuned on the validation split
(:func:`lrh_tflm.metrics.tune_thresholds`).

:func:`train_stage` is the data-to-saved-model recipe the CLI and the build call: pipeline,
model under the strategy's scope, teachers, training, test metrics and the self-describing
saved folder.
"""
from __future__ import annotations

import csv
import importlib.util
import shutil
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Sequence

import numpy as np

import lrh_tflm  # noqa: F401  (sets TF_USE_LEGACY_KERAS before TensorFlow is imported)

import tensorflow as tf
import tf_keras

from lrh_tflm import metrics as M
from lrh_tflm.config import KDConfig, TrainConfig
from lrh_tflm.distill import Distiller, auroc_metric, distillation_loss
from lrh_tflm.io import read_json, write_json_atomic

STRATEGIES = ("default", "mirrored", "multiworker")
HISTORY_FILE = "history.csv"
BEST_FILE = "best.json"
BEST_WEIGHTS = "best.weights.h5"
BACKUP_DIR = "backup"


def get_strategy(name: str = "default") -> tf.distribute.Strategy:
    """The tf.distribute strategy called ``name``.

    ``default`` is the no-op strategy (one device), ``mirrored`` replicates over the local
    GPUs, ``multiworker`` over the workers described by ``TF_CONFIG``.
    """
    if name == "default":
        return tf.distribute.get_strategy()
    if name == "mirrored":
        return tf.distribute.MirroredStrategy()
    if name == "multiworker":
        return tf.distribute.MultiWorkerMirroredStrategy()
    raise ValueError(f"unknown strategy {name!r}; choose one of {', '.join(STRATEGIES)}")


def has_tensorboard() -> bool:
    """Whether TensorBoard logging is possible (the ``tensorboard`` package is installed)."""
    return importlib.util.find_spec("tensorboard") is not None


def step_schedule(cfg: TrainConfig):
    """``schedule(epoch, lr)`` for LearningRateScheduler: ``cfg.lr × factor^(drops passed)``.

    Epochs are 0-based as in Keras: with ``lr_drops=(20, 40)`` epochs 0–19 use ``lr``,
    20–39 ``lr × factor`` and 40 on ``lr × factor²``.
    """
    drops = tuple(sorted(cfg.lr_drops))

    def schedule(epoch: int, lr: float = 0.0) -> float:
        return float(cfg.lr * cfg.lr_factor ** sum(epoch >= d for d in drops))

    return schedule


def score_name(classes: Sequence[str]) -> str:
    """What ``val_score`` means for these classes: ``challenge`` or ``auroc``."""
    return "challenge" if M.challenge_applicable(classes) else "auroc"


def validation_score(y: np.ndarray, probs: np.ndarray, classes: Sequence[str]) -> float:
    """The selection score: challenge score at threshold 0.5, or macro AUROC without NSR."""
    if M.challenge_applicable(classes):
        return M.challenge_score(y, probs >= 0.5, classes)
    return M.macro_auroc(y, probs).value


def predict_probs(model, inputs: dict, batch_size: int = 256) -> np.ndarray:
    """Sigmoid probabilities of a logits model (or Distiller) on numpy inputs."""
    logits = model.predict(inputs, batch_size=batch_size, verbose=0)
    return 1.0 / (1.0 + np.exp(-np.asarray(logits, dtype=np.float64)))


class ScoreSelection(tf_keras.callbacks.Callback):
    """Per-epoch validation score, best-weights bookkeeping and early stopping.

    Writes ``val_score`` into the epoch logs (so later callbacks, CSVLogger included, see it),
    keeps the best student weights in ``out_dir/best.weights.h5`` with ``best.json``, and
    stops training after ``patience`` epochs without improvement.  State is re-read from
    ``best.json`` at the start of training, so a resumed run continues the same selection.
    """

    def __init__(self, student, val_inputs: dict, val_y: np.ndarray, classes: Sequence[str],
                 out_dir: Path, patience: int, batch_size: int = 256):
        super().__init__()
        self.student = student
        self.val_inputs = val_inputs
        self.val_y = np.asarray(val_y, dtype=bool)
        self.classes = list(classes)
        self.out_dir = Path(out_dir)
        self.patience = int(patience)
        self.batch_size = batch_size
        self.best_score = -np.inf
        self.best_epoch = -1
        self.stopped_epoch: int | None = None

    def on_train_begin(self, logs=None):
        state = self.out_dir / BEST_FILE
        if state.exists():
            meta = read_json(state)
            self.best_score = float(meta["score"])
            self.best_epoch = int(meta["epoch"])

    def on_epoch_end(self, epoch, logs=None):
        probs = predict_probs(self.model, self.val_inputs, self.batch_size)
        score = validation_score(self.val_y, probs, self.classes)
        if logs is not None:
            logs["val_score"] = score
        if score > self.best_score:
            self.best_score, self.best_epoch = score, epoch
            # Weights first, then the JSON naming them: a kill in between leaves the older
            # (consistent) pair or a newer weights file with an older epoch, never a gap.
            self.student.save_weights(str(self.out_dir / BEST_WEIGHTS))
            write_json_atomic(self.out_dir / BEST_FILE, {"epoch": epoch, "score": score})
        if epoch - self.best_epoch >= self.patience:
            self.stopped_epoch = epoch
            self.model.stop_training = True


@dataclass
class TrainResult:
    """What :func:`train_model` returns.

    Attributes
    ----------
    model
        The trained model (the student of the Distiller) with the best epoch's weights.
    history
        Column → values from ``history.csv`` (all epochs, across resumes).
    best_epoch, best_score
        The selected epoch (0-based) and its ``val_score``.
    score_name
        ``"challenge"`` or ``"auroc"``: what ``val_score`` is.
    thresholds
        Per-class thresholds tuned on validation.
    val_metrics
        :func:`lrh_tflm.metrics.evaluate` on validation with the tuned thresholds, plus
        ``score_at_0_5``.
    epochs_run
        Epochs in ``history.csv``.
    stopped_early
        Whether early stopping ended the run.
    resumed
        Whether this call continued an interrupted run.
    seconds
        Wall time of this call.
    out_dir
        The training folder.
    """

    model: object
    history: dict
    best_epoch: int
    best_score: float
    score_name: str
    thresholds: np.ndarray
    val_metrics: dict
    epochs_run: int
    stopped_early: bool
    resumed: bool
    seconds: float
    out_dir: Path
    extra: dict = field(default_factory=dict)


def read_history(path: Path) -> dict:
    """``history.csv`` as column → list of floats (``epoch`` as ints)."""
    path = Path(path)
    if not path.exists():
        return {}
    with open(path, newline="") as fh:
        rows = list(csv.DictReader(fh))
    out: dict[str, list] = {}
    for row in rows:
        for k, v in row.items():
            out.setdefault(k, []).append(int(v) if k == "epoch" else float(v))
    return out


def _as_distiller(model, leads) -> Distiller:
    if isinstance(model, Distiller):
        if leads is not None:
            raise ValueError("give a Distiller its student_leads itself, not through leads=")
        return model
    return Distiller(model, [], leads)


def train_model(model, train_ds, val_ds, cfg: TrainConfig, out_dir: Path, *,
                classes: Sequence[str], val_data: tuple[dict, np.ndarray], seed: int = 0,
                strategy: tf.distribute.Strategy | None = None, kd: KDConfig | None = None,
                teacher_weights: Sequence[float] | None = None,
                leads: Sequence[int] | None = None, verbose: int = 1,
                callbacks: Sequence[tf_keras.callbacks.Callback] = ()) -> TrainResult:
    """Train ``model`` with score-based selection, logs and resume-after-interruption.

    Parameters
    ----------
    model
        A :class:`~lrh_tflm.distill.Distiller` or a plain logits model (wrapped in a Distiller
        without teachers).  Create it under ``strategy.scope()``.
    train_ds
        Training ``tf.data.Dataset`` of (inputs dict, labels); with ``cfg.steps_per_epoch``
        it is repeated.
    val_ds
        Validation dataset for Keras's ``val_loss``/``val_auroc``; ``None``: ``val_data``.
    cfg
        Epochs, batch size, learning-rate schedule, patience.
    out_dir
        Training folder (history, TensorBoard, backup, best weights).  A folder holding a
        backup of an interrupted run is resumed; otherwise old logs are cleared.
    classes
        Class names (``weights.csv`` naming) for the challenge score.
    val_data
        ``(inputs dict, y)`` NumPy validation windows and labels for the score and thresholds.
    seed
        Seeds Python, NumPy and TensorFlow.
    strategy
        Distribution strategy (default: the current one).
    kd
        Distillation hyper-parameters (alpha, temperature, loss, T²); ignored without teachers.
    teacher_weights
        Weight per teacher of the Distiller (default: ``kd.teacher_weights`` truncated to the
        number of teachers).
    leads
        For a plain model: indices of its leads in the batches' lead axis (``None``: the
        batches carry exactly its leads).
    verbose
        Keras progress output (0 silent, 1 bar, 2 one line per epoch).
    callbacks
        Extra Keras callbacks (appended after the project's own).

    Returns
    -------
    TrainResult
    """
    t0 = time.perf_counter()
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    strategy = strategy or tf.distribute.get_strategy()
    kd = kd or KDConfig()
    backup = out_dir / BACKUP_DIR
    resumed = backup.exists() and any(backup.iterdir())
    if not resumed:
        for name in (HISTORY_FILE, BEST_FILE, BEST_WEIGHTS):
            (out_dir / name).unlink(missing_ok=True)
        shutil.rmtree(out_dir / "tb", ignore_errors=True)
    tf_keras.utils.set_random_seed(seed)

    val_inputs, val_y = val_data
    with strategy.scope():
        distiller = _as_distiller(model, leads)
        n_teachers = len(distiller.teacher_models)
        weights = (tuple(teacher_weights) if teacher_weights is not None
                   else tuple(kd.teacher_weights[:n_teachers]) if n_teachers <= 2
                   else (1.0 / n_teachers,) * n_teachers)
        distiller.compile(
            optimizer=tf_keras.optimizers.Adam(cfg.lr),
            metrics=[auroc_metric()],
            distillation_loss_fn=distillation_loss(kd.loss, kd.t_squared),
            alpha=kd.alpha, temperature=kd.temperature, teacher_weights=weights)
        # BackupAndRestore needs built variables before fit() to restore into them.
        distiller({k: v[:1] for k, v in val_inputs.items()})

    selection = ScoreSelection(distiller.student, val_inputs, val_y, classes, out_dir,
                               cfg.patience, batch_size=max(cfg.batch_size, 64))
    cbs = [
        tf_keras.callbacks.BackupAndRestore(str(backup)),
        tf_keras.callbacks.LearningRateScheduler(step_schedule(cfg)),
        selection,
        tf_keras.callbacks.CSVLogger(str(out_dir / HISTORY_FILE), append=True),
    ]
    tensorboard = has_tensorboard()
    if tensorboard:
        cbs.append(tf_keras.callbacks.TensorBoard(str(out_dir / "tb"), profile_batch=0))
    cbs.extend(callbacks)
    fit_train = train_ds.repeat() if cfg.steps_per_epoch else train_ds
    distiller.fit(fit_train, validation_data=val_ds if val_ds is not None else val_data,
                  epochs=cfg.epochs, steps_per_epoch=cfg.steps_per_epoch, callbacks=cbs,
                  verbose=verbose)

    student = distiller.student
    if (out_dir / BEST_WEIGHTS).exists():
        student.load_weights(str(out_dir / BEST_WEIGHTS))
    probs = predict_probs(distiller, val_inputs)
    y = np.asarray(val_y, dtype=bool)
    thresholds = M.tune_thresholds(y, probs, classes)
    val_metrics = M.evaluate(y, probs, classes, thresholds)
    val_metrics["score_at_0_5"] = validation_score(y, probs, classes)
    history = read_history(out_dir / HISTORY_FILE)
    return TrainResult(
        model=student, history=history, best_epoch=selection.best_epoch,
        best_score=float(selection.best_score), score_name=score_name(classes),
        thresholds=thresholds, val_metrics=val_metrics,
        epochs_run=len(history.get("epoch", [])), stopped_early=selection.stopped_epoch is not None,
        resumed=resumed, seconds=time.perf_counter() - t0, out_dir=out_dir,
        extra={"tensorboard": tensorboard})
