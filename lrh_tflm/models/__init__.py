"""Model builders: the SE-ResNet18 teacher and the LRH-Net students (functional tf_keras).

Contract: inputs ``ecg`` (None, 1, window, n_leads) and ``demo`` (None, 5), one output of raw
logits (None, n_classes), only built-in Keras layers (so :func:`custom_objects` is empty).
"""
from __future__ import annotations

from lrh_tflm.models.student import VARIANTS, build_student
from lrh_tflm.models.teacher import build_teacher

KINDS = ("teacher", "student")


def build_model(kind: str, cfg, n_leads: int, window: int, n_classes: int, name: str | None = None):
    """Build a teacher (``kind="teacher"``, cfg a TeacherConfig) or a student (cfg a StudentConfig).

    Parameters
    ----------
    kind
        ``"teacher"`` or ``"student"``.
    cfg
        The matching config dataclass.
    n_leads, window, n_classes
        Input leads, samples per lead and output logits.
    name
        Keras model name (default: ``kind``).
    """
    if kind == "teacher":
        return build_teacher(cfg, n_leads, window, n_classes, name=name or "teacher")
    if kind == "student":
        return build_student(cfg, n_leads, window, n_classes, name=name or "student")
    raise ValueError(f"unknown model kind {kind!r}; choose one of {', '.join(KINDS)}")


def custom_objects() -> dict:
    """Custom Keras objects needed to load a saved float model: none (built-in layers only)."""
    return {}


__all__ = ["build_teacher", "build_student", "build_model", "custom_objects", "KINDS", "VARIANTS"]
