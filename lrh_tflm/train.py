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

import hashlib
import importlib.util
import shutil
import time
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Sequence

import numpy as np
import tensorflow as tf
import tf_keras

from lrh_tflm import metrics as M
from lrh_tflm.artifact import config_from_dict, load_model, read_sidecar, save_model
from lrh_tflm.config import KDConfig, TrainConfig
from lrh_tflm.data.pipeline import eval_windows, grid_positions, grid_windows, make_dataset
from lrh_tflm.data.sources import data_attribution
from lrh_tflm.distill import TEACHER_LOGITS, Distiller, auroc_metric, distillation_loss
from lrh_tflm.io import finite, read_history, read_json, write_json_atomic
from lrh_tflm.leads import lead_indices, parse_leads
from lrh_tflm.models import build_model
from lrh_tflm.models.footprint import count_macs, count_params

STRATEGIES = ("default", "mirrored", "multiworker")
HISTORY_FILE = "history.csv"
BEST_FILE = "best.json"
BEST_WEIGHTS = "best.weights.h5"
BACKUP_DIR = "backup"


def get_strategy(name: str = "default") -> tf.distribute.Strategy:
    """The tf.distribute strategy called ``name``.

    ``default`` is the no-op strategy (one device), ``mirrored`` replicates over the local
    GPUs (over the logical CPUs where there is no GPU: one, unless the program split the CPU
    with ``tf.config.set_logical_device_configuration``), ``multiworker`` over the workers
    described by ``TF_CONFIG`` (create it once per process, before anything else touches
    TensorFlow's devices).

    All three keep the training semantics: the batch size is the global batch, split over
    the replicas, and gradients are summed over them (:meth:`lrh_tflm.distill.Distiller.train_step`
    scales each replica's loss), so a step on ``k`` replicas is a step on the whole batch —
    up to float summation order, and batch-normalisation statistics, which Keras computes
    per replica.
    """
    if name == "default":
        return tf.distribute.get_strategy()
    if name == "mirrored":
        # TensorFlow's own default (GPUs, else CPU:0) ignores a split CPU.
        devices = tf.config.list_logical_devices("GPU") or tf.config.list_logical_devices("CPU")
        return tf.distribute.MirroredStrategy([d.name for d in devices])
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
    """Sigmoid probabilities of a logits model (or Distiller) on numpy inputs.

    ``inputs["ecg"]`` of shape ``(n, k, 1, W, L)`` holds ``k`` windows per record
    (:func:`lrh_tflm.data.pipeline.eval_windows` with a hop): the record's probability is the
    mean over its windows.
    """
    ecg = np.asarray(inputs["ecg"])
    k = ecg.shape[1] if ecg.ndim == 5 else None
    if k is not None:
        inputs = {**inputs, "ecg": ecg.reshape((-1,) + ecg.shape[2:]),
                  "demo": np.repeat(np.asarray(inputs["demo"]), k, axis=0)}
    logits = np.asarray(model.predict(inputs, batch_size=batch_size, verbose=0), dtype=np.float64)
    probs = 1.0 / (1.0 + np.exp(-logits))
    return probs if k is None else probs.reshape(-1, k, probs.shape[-1]).mean(axis=1)


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


def _per_window(data: tuple[dict, np.ndarray]) -> tuple[dict, np.ndarray]:
    """Validation data with a window axis (``ecg`` of shape ``(n, k, 1, W, L)``) as ``n·k``
    single windows, each with its record's label and demographics, for Keras's ``val_loss``."""
    inputs, y = data
    ecg = np.asarray(inputs["ecg"])
    if ecg.ndim != 5:
        return data
    k = ecg.shape[1]
    return ({**inputs, "ecg": ecg.reshape((-1,) + ecg.shape[2:]),
             "demo": np.repeat(np.asarray(inputs["demo"]), k, axis=0)},
            np.repeat(np.asarray(y), k, axis=0))


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
                leads: Sequence[int] | None = None,
                abbreviations: Sequence[str] | None = None, verbose: int = 1,
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
    abbreviations
        Short class names for the per-class rows of ``val_metrics``.
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
            metrics=[auroc_metric(int(np.shape(val_y)[-1]))],  # sized: one trace per step
            distillation_loss_fn=distillation_loss(kd.loss, kd.t_squared),
            alpha=kd.alpha, temperature=kd.temperature, teacher_weights=weights,
            ensemble=kd.ensemble)
        # BackupAndRestore needs built variables before fit() to restore into them.
        first = np.asarray(val_inputs["ecg"][:1])
        distiller({"ecg": first.reshape((-1,) + first.shape[-3:])[:1],
                   "demo": np.asarray(val_inputs["demo"][:1])})

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
    distiller.fit(fit_train, validation_data=val_ds if val_ds is not None else _per_window(val_data),
                  epochs=cfg.epochs, steps_per_epoch=cfg.steps_per_epoch, callbacks=cbs,
                  verbose=verbose)

    student = distiller.student
    if (out_dir / BEST_WEIGHTS).exists():
        student.load_weights(str(out_dir / BEST_WEIGHTS))
    probs = predict_probs(distiller, val_inputs)
    y = np.asarray(val_y, dtype=bool)
    thresholds = M.tune_thresholds(y, probs, classes)
    val_metrics = M.evaluate(y, probs, classes, thresholds, abbreviations)
    val_metrics["score_at_0_5"] = validation_score(y, probs, classes)
    history = read_history(out_dir / HISTORY_FILE)
    return TrainResult(
        model=student, history=history, best_epoch=selection.best_epoch,
        best_score=float(selection.best_score), score_name=score_name(classes),
        thresholds=thresholds, val_metrics=val_metrics,
        epochs_run=len(history.get("epoch", [])), stopped_early=selection.stopped_epoch is not None,
        resumed=resumed, seconds=time.perf_counter() - t0, out_dir=out_dir,
        extra={"tensorboard": tensorboard, "val_probs": probs})


PREDICTIONS_FILE = "predictions.npz"
LOGITS_CACHE = "teacher-logits"


def teacher_logit_table(model, prepared, indices, *, window: int, step: int,
                        leads: Sequence[str], cache_dir: Path | None = None) -> np.ndarray:
    """A frozen model's logits on every grid crop of the given records.

    Parameters
    ----------
    model
        The teacher (inputs ``ecg`` on ``leads``, ``demo``).
    prepared
        The prepared data the crops come from.
    indices
        Record indices (the training split); other rows of the table stay zero.
    window, step
        Window length and crop-grid step (:attr:`TrainConfig.crop_step`).
    leads
        The teacher's leads.
    cache_dir
        Where finished tables are kept, keyed by the teacher's weights, the data and the
        grid, so every student a teacher distils into reuses one pass (``None``: no cache).

    Returns
    -------
    np.ndarray
        float32 ``(len(prepared), P, C)``, P from :func:`lrh_tflm.data.pipeline.grid_positions`.
    """

    indices = np.asarray(indices, dtype=np.int64)
    path = None
    if cache_dir is not None:
        h = hashlib.sha256()
        for w in model.get_weights():
            h.update(np.ascontiguousarray(w).tobytes())
        h.update(repr((window, step, tuple(leads), prepared.manifest.get("key"),
                       len(prepared))).encode())
        h.update(indices.tobytes())
        path = Path(cache_dir) / f"{h.hexdigest()[:24]}.npy"
        if path.exists():
            return np.load(path)
    n_pos = grid_positions(prepared.x.shape[1], window, step)
    n_classes = int(model.outputs[0].shape[-1])
    table = np.zeros((len(prepared), n_pos, n_classes), np.float32)
    for pos, ecg, demo in grid_windows(prepared, indices, window, step, leads):
        flat = {"ecg": ecg.reshape((-1,) + ecg.shape[2:]), "demo": np.repeat(demo, n_pos, axis=0)}
        logits = model.predict(flat, batch_size=512, verbose=0)
        table[indices[pos]] = np.asarray(logits, np.float32).reshape(len(pos), n_pos, n_classes)
    if path is not None:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(path.name + ".tmp.npy")
        np.save(tmp, table)
        tmp.replace(path)
    return table


def stretched_train_config(cfg: TrainConfig, epochs: int | None) -> TrainConfig:
    """``cfg`` stretched to ``epochs`` (learning-rate drops and patience scaled by the same
    factor); ``cfg`` itself when ``epochs`` is ``None`` or already its epochs."""
    if epochs is None or epochs == cfg.epochs:
        return cfg
    f = epochs / cfg.epochs
    return replace(cfg, epochs=int(epochs), lr_drops=tuple(int(round(d * f)) for d in cfg.lr_drops),
                   patience=max(1, int(round(cfg.patience * f))))


def distilled_train_config(cfg: TrainConfig, kd: KDConfig) -> TrainConfig:
    """The schedule of a distilled model: ``cfg``, stretched to ``kd.epochs`` when the recipe
    asks for a patient schedule (:func:`stretched_train_config`)."""
    return stretched_train_config(cfg, kd.epochs)


def save_predictions(path: Path, **splits) -> Path:
    """Write ``{split: (probs, y)}`` (and ``names={split: [record names]}``) to one ``.npz``,
    atomically; :func:`load_predictions` reads it back."""
    path = Path(path)
    names = splits.pop("names", {})
    arrays = {}
    for split, (probs, y) in splits.items():
        arrays[f"{split}_probs"] = np.asarray(probs, dtype=np.float32)
        arrays[f"{split}_y"] = np.asarray(y, dtype=bool)
    for split, n in names.items():
        arrays[f"{split}_names"] = np.asarray(n, dtype=str)
    tmp = path.with_name(path.name + ".tmp")
    with open(tmp, "wb") as fh:
        np.savez(fh, **arrays)
    tmp.replace(path)
    return path


def load_predictions(path: Path) -> dict[str, dict[str, np.ndarray]]:
    """``{split: {"probs", "y", "names"}}`` from a file written by :func:`save_predictions`."""
    with np.load(Path(path)) as data:
        out: dict[str, dict[str, np.ndarray]] = {}
        for key in data.files:
            split, _, what = key.partition("_")
            out.setdefault(split, {})[what] = data[key]
    return out


# --------------------------------------------------------------------------- one stage
#: role → (model kind, Profile attribute of its model config, of its TrainConfig)
ROLES = {
    "teacher": ("teacher", "teacher", "teacher_train"),
    "assistant": ("teacher", "teacher", "teacher_train"),
    "student": ("student", "student", "student_train"),
}


@dataclass
class TrainedModel:
    """A finished stage: where the saved model is and how it scored.

    Attributes
    ----------
    role
        ``teacher``, ``assistant`` or ``student``.
    model_dir
        The saved model folder (``out_dir/model``), loadable with :func:`lrh_tflm.saved.load_model`.
    sidecar
        Its sidecar (as written).
    result
        The :class:`TrainResult` of the training run.
    test_metrics
        :func:`lrh_tflm.metrics.evaluate` on the test split with the tuned thresholds.
    """

    role: str
    model_dir: Path
    sidecar: dict
    result: TrainResult
    test_metrics: dict

    def summary(self) -> dict:
        """Headline numbers, JSON-able."""
        v, t = self.result.val_metrics, self.test_metrics
        return {"role": self.role, "leads": self.sidecar["leads"],
                "score_name": self.result.score_name,
                "val_score": v["score"], "val_auroc": v["auroc"],
                "test_score": t["score"], "test_auroc": t["auroc"], "test_f1": t["f1"],
                "epochs": self.result.epochs_run, "best_epoch": self.result.best_epoch,
                "seconds": self.result.seconds, "model_dir": str(self.model_dir),
                "params": self.sidecar.get("params")}


def _check_teacher(meta: dict, path: Path, prepared, window: int) -> None:
    """A teacher must predict the same classes from windows of the same rate and length."""
    problems = []
    if meta["classes"]["classes"] != list(prepared.classes.classes):
        problems.append("its classes differ from the data's")
    if int(meta["window"]) != int(window):
        problems.append(f"its window is {meta['window']} samples, the data's {window}")
    fs = meta.get("fs")
    if fs is not None and float(fs) != float(prepared.pre.fs):
        problems.append(f"it expects {fs:g} Hz, the data is at {prepared.pre.fs:g} Hz")
    if problems:
        raise ValueError(f"teacher {path} does not fit this data: {'; '.join(problems)} "
                         "(train it with the same profile and data)")


def training_data(prepared, splits: dict, cfg: TrainConfig, *, teachers: Sequence = (),
                  teacher_leads: Sequence[Sequence[str]] = (), kd: KDConfig | None = None,
                  seed: int = 0):
    """The datasets one training run needs, as every stage (training, QAT) builds them.

    Parameters
    ----------
    prepared, splits
        Prepared data and its ``train``/``val`` record indices.
    cfg
        Batch size, training crop grid (``crop_step``) and evaluation hop (``eval_hop``).
    teachers, teacher_leads
        The frozen teachers (``(model, lead indices)`` pairs, as the Distiller takes them)
        and their lead names; with ``kd.cached_logits`` and a crop grid their logits on every
        training crop are computed once (:func:`teacher_logit_table`, cached beside the
        prepared data) and carried by the batches.
    kd
        Distillation settings (``cached_logits``).
    seed
        Seed of shuffling and crops.

    Returns
    -------
    (train_ds, val_ds, val_data)
        Training and validation ``tf.data`` datasets and the ``(inputs, y)`` NumPy
        validation windows (``eval_hop`` windows per record) for selection and thresholds.
    """

    window = int(prepared.pre.window)
    attach = None
    if teachers and (kd is None or kd.cached_logits) and cfg.crop_step:
        folder = Path(prepared.path) / LOGITS_CACHE if Path(prepared.path).is_dir() else None
        tables = [teacher_logit_table(t, prepared, splits["train"], window=window,
                                      step=cfg.crop_step, leads=leads, cache_dir=folder)
                  for (t, _), leads in zip(teachers, teacher_leads)]
        attach = {TEACHER_LOGITS: np.stack(tables, axis=2)}  # (records, P, teachers, C)
    train_ds = make_dataset(prepared, splits["train"], window=window, batch_size=cfg.batch_size,
                            training=True, seed=seed, crop_step=cfg.crop_step, attach=attach)
    val_ds = make_dataset(prepared, splits["val"], window=window, batch_size=cfg.batch_size,
                          training=False)
    ecg, demo, y_val = eval_windows(prepared, splits["val"], window, hop=cfg.eval_hop)
    return train_ds, val_ds, ({"ecg": ecg, "demo": demo}, y_val.astype(bool))


def train_stage(role: str, prepared, splits: dict, *, leads: Sequence[str], profile,
                out_dir: Path, teachers: Sequence[Path] = (),
                teacher_weights: Sequence[float] | None = None, init: Path | None = None,
                strategy: tf.distribute.Strategy | None = None, seed: int = 0,
                train_cfg: TrainConfig | None = None, verbose: int = 1) -> TrainedModel:
    """Train one model on prepared data and save it with its sidecar.

    Parameters
    ----------
    role
        ``teacher`` or ``assistant`` (SE-ResNet18, ``profile.teacher``/``teacher_train``) or
        ``student`` (LRH-Net, ``profile.student``/``student_train``).
    prepared
        A :class:`lrh_tflm.data.cache.PreparedData` (12 cached leads).
    splits
        ``{"train", "val", "test"}`` record indices (:func:`lrh_tflm.data.splits.split_indices`).
    leads
        The model's input leads (canonical names).
    profile
        The :class:`~lrh_tflm.config.Profile` (model, training and KD configs).
    out_dir
        Stage folder: ``train/`` (logs, backup) and ``model/`` (the saved model).
    teachers
        Saved teacher folders (frozen; each sees its own leads from its sidecar).
    teacher_weights
        Weight per teacher (default: ``profile.kd.teacher_weights`` for two, 1 for one).
    init
        Optional saved model of the same architecture to start from.
    strategy
        Distribution strategy; models and optimiser are created under its scope.
    seed
        Seed of weights, shuffling and crops.
    train_cfg
        Overrides the profile's TrainConfig for this role.
    verbose
        Keras progress output.

    Returns
    -------
    TrainedModel
    """

    if role not in ROLES:
        raise ValueError(f"unknown role {role!r}; choose one of {', '.join(ROLES)}")
    kind, cfg_attr, train_attr = ROLES[role]
    model_cfg = getattr(profile, cfg_attr)
    cfg = train_cfg or getattr(profile, train_attr)
    if teachers:
        cfg = distilled_train_config(cfg, profile.kd)
    out_dir = Path(out_dir)
    strategy = strategy or tf.distribute.get_strategy()
    leads = parse_leads(leads)
    cached = tuple(prepared.manifest.get("leads", prepared.pre.leads))
    window = int(prepared.pre.window)
    classes = list(prepared.classes.classes)

    teacher_metas = [read_sidecar(p) for p in teachers]
    for meta, path in zip(teacher_metas, teachers):
        _check_teacher(meta, Path(path), prepared, window)
    if init is not None:
        init_meta = read_sidecar(init)
        _check_teacher(init_meta, Path(init), prepared, window)
        if (init_meta["kind"] != kind or tuple(init_meta["leads"]) != leads
                or config_from_dict(kind, init_meta["model_config"]) != model_cfg):
            raise ValueError(f"{init} is not a {kind} on {','.join(leads)} with this profile's "
                             "configuration; it cannot initialise this model")

    with strategy.scope():  # frozen teachers are replicated like the student
        loaded = [(load_model(p)[0], lead_indices(m["leads"], cached))
                  for p, m in zip(teachers, teacher_metas)]
    train_ds, val_ds, val_data = training_data(prepared, splits, cfg, teachers=loaded,
                                               teacher_leads=[m["leads"] for m in teacher_metas],
                                               kd=profile.kd, seed=seed)

    with strategy.scope():
        tf_keras.utils.set_random_seed(seed)
        model = build_model(kind, model_cfg, len(leads), window, len(classes), name=role)
        if init is not None:
            model.set_weights(load_model(init)[0].get_weights())
        distiller = Distiller(model, loaded, student_leads=lead_indices(leads, cached))
    if teacher_weights is None and len(loaded) == 1:
        teacher_weights = (1.0,)
    result = train_model(distiller, train_ds, val_ds, cfg, out_dir / "train", classes=classes,
                         val_data=val_data, seed=seed, strategy=strategy, kd=profile.kd,
                         teacher_weights=teacher_weights,
                         abbreviations=prepared.classes.abbreviations, verbose=verbose)

    ecg, demo, y_test = eval_windows(prepared, splits["test"], window, hop=cfg.eval_hop)
    probs = predict_probs(distiller, {"ecg": ecg, "demo": demo})
    test_metrics = M.evaluate(y_test.astype(bool), probs, classes, result.thresholds,
                              prepared.classes.abbreviations)
    # The scored probabilities travel with the stage, so reports and benchmarks re-score any
    # class subset or threshold rule without predicting again.
    save_predictions(out_dir / PREDICTIONS_FILE, val=(result.extra["val_probs"], val_data[1]),
                     test=(probs, y_test),
                     names={k: [prepared.names[i] for i in splits[k]] for k in ("val", "test")})
    train_pos = prepared.y[np.asarray(splits["train"])].sum(axis=0)
    pre = prepared.pre
    sidecar = {
        "kind": kind, "role": role, "model_config": asdict(model_cfg),
        "n_leads": len(leads), "window": window, "n_classes": len(classes),
        "leads": list(leads), "classes": prepared.classes.to_dict(), "fs": float(pre.fs),
        "preprocessing": asdict(pre),
        "normaliser": {"mode": pre.normalise, "eps": pre.zscore_eps},
        "thresholds": [round(float(t), 6) for t in result.thresholds],
        "score_name": result.score_name,
        "metrics": finite({"val": result.val_metrics, "test": test_metrics}),
        "train_config": asdict(cfg),
        "kd": {**asdict(profile.kd),
               "teachers": [{"path": str(p), "leads": m["leads"], "role": m.get("role")}
                            for p, m in zip(teachers, teacher_metas)],
               "weights": list(distiller.teacher_weights)} if teachers else None,
        "training": {"best_epoch": result.best_epoch, "epochs": result.epochs_run,
                     "seconds": result.seconds, "seed": seed, "strategy": type(strategy).__name__,
                     "replicas": int(strategy.num_replicas_in_sync),
                     "train_positives": {c: int(n) for c, n in zip(classes, train_pos)},
                     "splits": {k: int(len(v)) for k, v in splits.items()}},
        "data": {"spec": prepared.manifest.get("spec"), "cache_key": prepared.manifest.get("key"),
                 "attribution": data_attribution(prepared.manifest.get("spec")),
                 "profile": profile.name, "split": asdict(profile.split)},
        "params": count_params(model)["trainable"],
        "macs": count_macs(model),
    }
    model_dir = save_model(result.model, out_dir / "model", sidecar)
    return TrainedModel(role, model_dir, read_sidecar(model_dir), result, test_metrics)
