"""Knowledge distillation: one :class:`Distiller` for every scheme, and the KD losses.

The Distiller follows the keras-io pattern (a ``tf_keras.Model`` wrapping a student and frozen
teachers, with its own ``train_step``), generalised to several teachers that each see their
own lead subset.  Batches always carry the full cached 12-lead window ``x["ecg"]``
(B, 1, W, 12); every model receives ``tf.gather(x["ecg"], its_leads, axis=-1)``.

Loss: ``α·BCE(labels, student) + (1 − α)·Σᵢ wᵢ·KDᵢ(teacherᵢ, student)`` (the paper's), or
with ``ensemble`` ``α·BCE + (1 − α)·KD(Σᵢ wᵢ·teacherᵢ / Σᵢ wᵢ, student)``.  With no teachers
(scheme ``none``) the loss is the plain BCE, so plain training is the same code path.

Schemes are data (:func:`distill_schedule`): a list of steps naming which model is trained
and which models teach it with which weights; the CLI walks that list.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Sequence

import tensorflow as tf
import tf_keras

SCHEMES = ("none", "vanilla", "parallel", "sequential")
#: Batch key of precomputed teacher logits, ``(B, n_teachers, C)`` in teacher order.
TEACHER_LOGITS = "teacher_logits"
LOSSES = ("kl-softmax", "bce-sigmoid", "mse-logits")


# --------------------------------------------------------------------------- losses
def kl_softmax(teacher_logits, student_logits, temperature: float, t_squared: bool = False):
    """KL(softmax(t/T) ‖ softmax(s/T)) over the classes, averaged over the batch.

    The paper's distillation loss; it does not multiply by T² (``t_squared=False``).

    Parameters
    ----------
    teacher_logits, student_logits
        (B, C) raw logits.
    temperature
        Softening temperature T.
    t_squared
        Multiply by T² (Hinton et al.) to keep gradient magnitudes independent of T.

    Returns
    -------
    tf.Tensor
        Scalar float32.
    """
    t = tf.cast(teacher_logits, tf.float32) / temperature
    s = tf.cast(student_logits, tf.float32) / temperature
    log_p = tf.nn.log_softmax(t, axis=-1)
    log_q = tf.nn.log_softmax(s, axis=-1)
    loss = tf.reduce_mean(tf.reduce_sum(tf.exp(log_p) * (log_p - log_q), axis=-1))
    return loss * (temperature ** 2) if t_squared else loss


def bce_sigmoid(teacher_logits, student_logits, temperature: float, t_squared: bool = False):
    """Binary cross-entropy of sigmoid(s/T) against per-class soft targets sigmoid(t/T).

    Suits multi-label classes (no softmax coupling the classes); averaged over classes and
    batch.

    Parameters
    ----------
    teacher_logits, student_logits
        (B, C) raw logits.
    temperature
        Softening temperature T.
    t_squared
        Multiply by T².

    Returns
    -------
    tf.Tensor
        Scalar float32.
    """
    targets = tf.sigmoid(tf.cast(teacher_logits, tf.float32) / temperature)
    s = tf.cast(student_logits, tf.float32) / temperature
    loss = tf.reduce_mean(tf.nn.sigmoid_cross_entropy_with_logits(labels=targets, logits=s))
    return loss * (temperature ** 2) if t_squared else loss


def mse_logits(teacher_logits, student_logits, temperature: float = 1.0, t_squared: bool = False):
    """Logit matching: mean squared difference of the raw logits over classes and batch.

    The usual multi-label choice (no softmax couples the classes, no sigmoid saturates the
    targets); it is the high-temperature limit of KD up to a factor, so ``temperature`` and
    ``t_squared`` do not apply and are ignored.

    Parameters
    ----------
    teacher_logits, student_logits
        (B, C) raw logits.

    Returns
    -------
    tf.Tensor
        Scalar float32.
    """
    del temperature, t_squared
    d = tf.cast(student_logits, tf.float32) - tf.cast(teacher_logits, tf.float32)
    return tf.reduce_mean(d * d)


def distillation_loss(name: str, t_squared: bool = False) -> Callable:
    """The KD loss called ``name`` (one of :data:`LOSSES`) as ``fn(t, s, T)``."""
    fns = {"kl-softmax": kl_softmax, "bce-sigmoid": bce_sigmoid, "mse-logits": mse_logits}
    if name not in fns:
        raise ValueError(f"unknown distillation loss {name!r}; choose one of {', '.join(LOSSES)}")
    fn = fns[name]

    def loss(teacher_logits, student_logits, temperature):
        return fn(teacher_logits, student_logits, temperature, t_squared=t_squared)

    loss.__name__ = name.replace("-", "_")
    return loss


def bce_from_logits(labels, logits):
    """Mean binary cross-entropy of raw logits against multi-hot labels (the hard-label loss)."""
    return tf.reduce_mean(tf.nn.sigmoid_cross_entropy_with_logits(
        labels=tf.cast(labels, tf.float32), logits=tf.cast(logits, tf.float32)))


# --------------------------------------------------------------------------- the Distiller
class Distiller(tf_keras.Model):
    """A student trained on labels and, optionally, on frozen teachers' softened logits.

    Parameters
    ----------
    student
        The model being trained (inputs ``ecg`` (1, W, n_student_leads) and ``demo``).
    teachers
        ``[(teacher_model, lead_indices), ...]``: each teacher and the indices of its leads
        in the batch's lead axis.  Teachers are frozen (``trainable = False``) and always
        called with ``training=False``.  Empty: plain supervised training.
    student_leads
        Indices of the student's leads in the batch's lead axis (``None``: all of them).

    Notes
    -----
    A batch may carry the teachers' logits for its very crops as ``x["teacher_logits"]``
    (``(B, n_teachers, C)``, :data:`TEACHER_LOGITS`); training steps then use them instead of
    running the teachers (validation steps without them run the teachers).
    ``call`` runs the student on its own leads, so ``predict`` on full 12-lead batches gives
    the student's logits.  Only the student's weights are in ``trainable_weights``.
    """

    def __init__(self, student: tf_keras.Model,
                 teachers: Sequence[tuple[tf_keras.Model, Sequence[int]]] = (),
                 student_leads: Sequence[int] | None = None, **kwargs):
        super().__init__(**kwargs)
        self.student = student
        self.teacher_models = [t for t, _ in teachers]
        self.teacher_leads = [tuple(int(i) for i in leads) for _, leads in teachers]
        self.student_leads = None if student_leads is None else tuple(int(i) for i in student_leads)
        for teacher in self.teacher_models:
            teacher.trainable = False
        self.loss_tracker = tf_keras.metrics.Mean(name="loss")
        self.student_loss_tracker = tf_keras.metrics.Mean(name="student_loss")
        self.distillation_loss_tracker = tf_keras.metrics.Mean(name="distillation_loss")
        self.student_loss_fn: Callable = bce_from_logits
        self.distillation_loss_fn: Callable = kl_softmax
        self.alpha = 1.0
        self.temperature = 1.0
        self.teacher_weights: tuple[float, ...] = ()
        self.ensemble = False

    def compile(self, optimizer="adam", metrics=None, student_loss_fn: Callable | None = None,
                distillation_loss_fn: Callable | str | None = None, alpha: float = 0.2,
                temperature: float = 8.0, teacher_weights: Sequence[float] | None = None,
                ensemble: bool = False, **kwargs):
        """Configure training.

        Parameters
        ----------
        optimizer
            A Keras optimiser (create it under the distribution strategy's scope).
        metrics
            Metrics on (labels, student logits), e.g. ``AUC(multi_label=True, from_logits=True)``.
        student_loss_fn
            ``fn(labels, student_logits)``; default mean BCE from logits.
        distillation_loss_fn
            ``fn(teacher_logits, student_logits, T)`` or a name from :data:`LOSSES`;
            default ``kl-softmax``.
        alpha
            Weight of the hard-label loss; ``1 − alpha`` goes to distillation (ignored without
            teachers).
        temperature
            Softening temperature T.
        teacher_weights
            One weight per teacher (default: equal weights summing to 1).
        ensemble
            Distil from one ensemble teacher, the weighted mean of the teachers' logits
            (weights normalised to sum to 1), instead of the paper's weighted sum of one
            loss per teacher.
        """
        super().compile(optimizer=optimizer, metrics=metrics, **kwargs)
        self.student_loss_fn = student_loss_fn or bce_from_logits
        if distillation_loss_fn is None or isinstance(distillation_loss_fn, str):
            distillation_loss_fn = distillation_loss(distillation_loss_fn or "kl-softmax")
        self.distillation_loss_fn = distillation_loss_fn
        self.alpha = float(alpha)
        self.temperature = float(temperature)
        n = len(self.teacher_models)
        if teacher_weights is None:
            teacher_weights = [1.0 / n] * n if n else []
        weights = tuple(float(w) for w in teacher_weights)
        if len(weights) != n:
            raise ValueError(f"{len(weights)} teacher weights for {n} teachers")
        self.teacher_weights = weights
        self.ensemble = bool(ensemble)
        if self.ensemble and n and sum(weights) <= 0:
            raise ValueError(f"ensemble teacher weights must sum to a positive value, got {weights}")

    @property
    def metrics(self):
        # Listed explicitly so Keras resets the trackers at every epoch.
        out = [self.loss_tracker, self.student_loss_tracker]
        if self.teacher_models:
            out.append(self.distillation_loss_tracker)
        if self.compiled_metrics is not None:
            out += self.compiled_metrics.metrics
        return out

    @staticmethod
    def _leads_of(inputs: dict, leads: tuple[int, ...] | None) -> dict:
        ecg = inputs["ecg"] if leads is None else tf.gather(inputs["ecg"], list(leads), axis=-1)
        return {"ecg": ecg, "demo": inputs["demo"]}

    def call(self, inputs, training=False):
        """Student logits on the student's leads."""
        return self.student(self._leads_of(inputs, self.student_leads), training=training)

    def _loss_terms(self, x, y, student_logits):
        student_loss = self.student_loss_fn(y, student_logits)
        if not self.teacher_models:
            return student_loss, student_loss, tf.constant(0.0)
        if TEACHER_LOGITS in x:  # computed once per crop beforehand (KDConfig.cached_logits)
            logits = [x[TEACHER_LOGITS][:, i] for i in range(len(self.teacher_models))]
        else:
            logits = [tf.stop_gradient(teacher(self._leads_of(x, leads), training=False))
                      for teacher, leads in zip(self.teacher_models, self.teacher_leads)]
        if self.ensemble:
            total_w = sum(self.teacher_weights)
            mean = tf.add_n([(w / total_w) * t for t, w in zip(logits, self.teacher_weights)])
            kd = self.distillation_loss_fn(mean, student_logits, self.temperature)
        else:
            kd = tf.constant(0.0)
            for teacher_logits, w in zip(logits, self.teacher_weights):
                kd = kd + w * self.distillation_loss_fn(teacher_logits, student_logits,
                                                        self.temperature)
        total = self.alpha * student_loss + (1.0 - self.alpha) * kd
        return total, student_loss, kd

    def _track(self, y, student_logits, total, student_loss, kd):
        self.loss_tracker.update_state(total)
        self.student_loss_tracker.update_state(student_loss)
        if self.teacher_models:
            self.distillation_loss_tracker.update_state(kd)
        self.compiled_metrics.update_state(y, student_logits)
        return {m.name: m.result() for m in self.metrics}

    def train_step(self, data):
        x, y = data[0], data[1]
        with tf.GradientTape() as tape:
            student_logits = self(x, training=True)
            total, student_loss, kd = self._loss_terms(x, y, student_logits)
            regularisation = tf.add_n(self.student.losses) if self.student.losses else 0.0
            # Gradients are summed over replicas: scale like Keras's own compiled loss does.
            replicas = tf.distribute.get_strategy().num_replicas_in_sync
            scaled = (total + regularisation) / replicas
        variables = self.student.trainable_variables
        grads = tape.gradient(scaled, variables)
        self.optimizer.apply_gradients(zip(grads, variables))
        return self._track(y, student_logits, total, student_loss, kd)

    def test_step(self, data):
        x, y = data[0], data[1]
        student_logits = self(x, training=False)
        total, student_loss, kd = self._loss_terms(x, y, student_logits)
        return self._track(y, student_logits, total, student_loss, kd)


def auroc_metric(num_labels: int | None = None) -> tf_keras.metrics.Metric:
    """Multi-label AUROC on logits, reported as ``auroc`` / ``val_auroc``.

    With ``num_labels`` its counters exist from the start (under the current strategy's
    scope); without, they are created by the first update, inside the first traced step,
    which makes tf.function trace that step twice.
    """
    return tf_keras.metrics.AUC(multi_label=True, num_labels=num_labels, from_logits=True,
                                name="auroc")


# --------------------------------------------------------------------------- schemes as data
@dataclass(frozen=True)
class DistillStep:
    """One training step of a KD scheme.

    Attributes
    ----------
    target
        Which model is trained: ``"student"`` or ``"assistant"`` (a teacher-architecture
        model on the reduced lead set).
    teachers
        Which frozen models teach it: names among ``"teacher"`` (12-lead) and ``"assistant"``.
    weights
        Weight of each teacher's distillation loss.
    """

    target: str
    teachers: tuple[str, ...]
    weights: tuple[float, ...]


def distill_schedule(scheme: str, teacher_weights: tuple[float, float] = (0.7, 0.3)
                     ) -> list[DistillStep]:
    """The steps of a KD scheme.

    Parameters
    ----------
    scheme
        ``none`` (student alone), ``vanilla`` (12-lead teacher → student), ``parallel``
        (12-lead teacher and a trained reduced-lead assistant → student at once) or
        ``sequential`` (12-lead teacher → assistant, then teacher + assistant → student).
    teacher_weights
        (12-lead teacher, assistant) weights for the two-teacher student step.

    Returns
    -------
    list of DistillStep
    """
    w12, wred = (float(w) for w in teacher_weights)
    two = DistillStep("student", ("teacher", "assistant"), (w12, wred))
    schedules = {
        "none": [DistillStep("student", (), ())],
        "vanilla": [DistillStep("student", ("teacher",), (1.0,))],
        "parallel": [two],
        "sequential": [DistillStep("assistant", ("teacher",), (1.0,)), two],
    }
    if scheme not in schedules:
        raise ValueError(f"unknown KD scheme {scheme!r}; choose one of {', '.join(SCHEMES)}")
    return schedules[scheme]


def needs(scheme: str) -> set[str]:
    """Models a scheme needs trained beforehand (the ones that teach but are never a target)."""
    steps = distill_schedule(scheme)
    teaching = {name for step in steps for name in step.teachers}
    return teaching - {step.target for step in steps}


__all__ = [
    "SCHEMES", "TEACHER_LOGITS", "LOSSES", "kl_softmax", "bce_sigmoid", "mse_logits", "distillation_loss", "bce_from_logits",
    "Distiller", "auroc_metric", "DistillStep", "distill_schedule", "needs",
]
