"""Saved models that describe themselves: weights plus a JSON sidecar.

A saved model is a folder::

    model/
      model.weights.h5   Keras weights of the functional model
      sidecar.json       how to rebuild it and what it expects and predicts

The sidecar holds everything needed to rebuild the architecture from config
(``kind``, ``model_config``, ``n_leads``, ``window``, ``n_classes``) and to use the model
without guessing: ``leads``, ``classes`` (ClassSpace.to_dict), ``fs``, ``preprocessing``,
``normaliser``, ``thresholds``, ``metrics`` per split, ``train_config``, ``kd``, ``data``
(spec and cache key), the package ``version`` and the ``created`` time.

Folders are written atomically: into a temporary sibling folder, then renamed into place, so
an interrupted save never leaves a half model that loads.
"""
from __future__ import annotations

import json
import shutil
import tempfile
import time
from dataclasses import asdict, fields, is_dataclass
from pathlib import Path

import lrh_tflm
from lrh_tflm.config import StudentConfig, TeacherConfig
from lrh_tflm.io import to_jsonable, write_json_atomic

WEIGHTS_FILE = "model.weights.h5"
SIDECAR_FILE = "sidecar.json"
FORMAT = 1

#: Keys a sidecar must have: the rebuild recipe and the minimum self-description.
REQUIRED = ("kind", "model_config", "n_leads", "window", "n_classes", "leads", "classes")

_CONFIGS = {"teacher": TeacherConfig, "student": StudentConfig}


def config_from_dict(kind: str, d: dict):
    """Rebuild the TeacherConfig/StudentConfig of ``kind`` from its JSON dict.

    Lists become tuples (JSON has no tuples) and unknown keys are an error, so a sidecar
    from an incompatible version fails loudly instead of building a different model.
    """
    if kind not in _CONFIGS:
        raise ValueError(f"unknown model kind {kind!r} in sidecar; expected teacher or student")
    cls = _CONFIGS[kind]
    names = {f.name for f in fields(cls)}
    unknown = sorted(set(d) - names)
    if unknown:
        raise ValueError(f"sidecar model_config has unknown fields for {cls.__name__}: "
                         f"{', '.join(unknown)}")
    return cls(**{k: tuple(v) if isinstance(v, list) else v for k, v in d.items()})


def check_sidecar(sidecar: dict) -> None:
    """Raise ValueError if ``sidecar`` lacks a required key or contradicts itself."""
    missing = [k for k in REQUIRED if k not in sidecar]
    if missing:
        raise ValueError(f"sidecar is missing {', '.join(missing)}")
    if len(sidecar["leads"]) != int(sidecar["n_leads"]):
        raise ValueError(f"sidecar lists {len(sidecar['leads'])} leads but n_leads = "
                         f"{sidecar['n_leads']}")
    classes = sidecar["classes"]["classes"]
    if len(classes) != int(sidecar["n_classes"]):
        raise ValueError(f"sidecar lists {len(classes)} classes but n_classes = "
                         f"{sidecar['n_classes']}")
    thr = sidecar.get("thresholds")
    if thr is not None and len(thr) != len(classes):
        raise ValueError(f"{len(thr)} thresholds for {len(classes)} classes")


def save_model(model, path: Path, sidecar: dict) -> Path:
    """Save ``model``'s weights and ``sidecar`` into the folder ``path``, atomically.

    Parameters
    ----------
    model
        A functional tf_keras model built by :func:`lrh_tflm.models.build_model`.
    path
        Destination folder; replaced if it exists.
    sidecar
        Self-description (see the module docstring); dataclasses are converted with
        :func:`dataclasses.asdict`.  ``version``, ``created`` and ``format`` are added.

    Returns
    -------
    pathlib.Path
        ``path``.
    """
    path = Path(path)
    meta = to_jsonable({k: asdict(v) if is_dataclass(v) and not isinstance(v, type) else v
                        for k, v in sidecar.items()})
    meta.setdefault("name", model.name)
    meta.setdefault("version", lrh_tflm.__version__)
    meta.setdefault("created", time.strftime("%Y-%m-%dT%H:%M:%S%z"))
    meta["format"] = FORMAT
    check_sidecar(meta)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent))
    try:
        model.save_weights(str(tmp / WEIGHTS_FILE))
        write_json_atomic(tmp / SIDECAR_FILE, meta)
        old = None
        if path.exists():
            # Move the old folder aside first: a rename over a non-empty folder is refused.
            old = path.with_name(f".{path.name}.old-{time.time_ns()}")
            path.rename(old)
        tmp.rename(path)
        if old is not None:
            shutil.rmtree(old, ignore_errors=True)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return path


def read_sidecar(path: Path) -> dict:
    """The sidecar of the saved model folder ``path`` (no TensorFlow needed).

    Raises
    ------
    FileNotFoundError
        ``path`` is not a saved model folder.
    ValueError
        The sidecar is not valid JSON or lacks required keys.
    """
    path = Path(path)
    file = path / SIDECAR_FILE
    if not file.is_file():
        raise FileNotFoundError(f"{path} is not a saved model (no {SIDECAR_FILE} in it)")
    try:
        meta = json.loads(file.read_text())
    except json.JSONDecodeError as err:
        raise ValueError(f"{file}: not valid JSON ({err})") from None
    check_sidecar(meta)
    return meta


def load_model(path: Path):
    """Rebuild a saved model from its sidecar and load its weights.

    Parameters
    ----------
    path
        A folder written by :func:`save_model`.

    Returns
    -------
    (tf_keras.Model, dict)
        The model and its sidecar.
    """
    from lrh_tflm.models import build_model

    path = Path(path)
    meta = read_sidecar(path)
    weights = path / WEIGHTS_FILE
    if not weights.is_file():
        raise FileNotFoundError(f"{path} is not a saved model (no {WEIGHTS_FILE} in it)")
    cfg = config_from_dict(meta["kind"], meta["model_config"])
    model = build_model(meta["kind"], cfg, int(meta["n_leads"]), int(meta["window"]),
                        int(meta["n_classes"]), name=meta.get("name"))
    try:
        model.load_weights(str(weights))
    except (ValueError, OSError) as err:
        raise ValueError(f"{weights}: weights do not fit the model its sidecar describes "
                         f"({err})") from None
    return model, meta


__all__ = ["WEIGHTS_FILE", "SIDECAR_FILE", "REQUIRED", "config_from_dict", "check_sidecar",
           "save_model", "read_sidecar", "load_model"]
