"""The one reader and writer of model artefacts: saved Keras folders and ``.tflite`` bundles.

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
an interrupted save never leaves a half model that loads.  A QAT model (sidecar
``"qat": true``) holds the weights of the tfmot QAT graph; :func:`load_model` rebuilds that
graph before loading them, so every caller loads float and QAT models the same way.

A ``.tflite`` bundle is ``<name>.tflite`` plus its sidecar ``<name>.json`` beside it
(:func:`write_model_bundle`, :func:`read_bundle_sidecar`): the same self-description plus
``tflite_sha256``, ``quantization`` and ``hop`` (the board's hop between windows).

:func:`preprocess_config`, :func:`sidecar_classes` and :func:`sidecar_thresholds` turn a
sidecar back into what consumers need; they are the only parsers of those fields.
"""
from __future__ import annotations

import json
import math
import shutil
import tempfile
import time
from dataclasses import asdict, dataclass, field, fields, is_dataclass
from pathlib import Path
from typing import Sequence

import lrh_tflm
from lrh_tflm.config import DEFAULT_SMOOTHING as CONFIG_DEFAULT_SMOOTHING
from lrh_tflm.config import PreprocessConfig, StudentConfig, TeacherConfig
from lrh_tflm.io import sha256_bytes, to_jsonable, write_bytes_atomic, write_json_atomic
from lrh_tflm.leads import LeadError, canonical_name

WEIGHTS_FILE = "model.weights.h5"
SIDECAR_FILE = "sidecar.json"
FORMAT = 1

#: Keys a ``.tflite`` bundle's sidecar must have for inference.
BUNDLE_REQUIRED = ("leads", "fs", "window", "classes")

#: Keys a sidecar must have: the rebuild recipe and the minimum self-description.
REQUIRED = ("kind", "model_config", "n_leads", "window", "n_classes", "leads", "classes")

_CONFIGS = {"teacher": TeacherConfig, "student": StudentConfig}


class SidecarError(ValueError):
    """A sidecar that does not describe its model (missing or contradictory fields)."""


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
    """Rebuild a saved model from its sidecar and load its weights, float or QAT.

    A QAT model (sidecar ``"qat": true``) holds the weights of the tfmot QAT graph: its float
    architecture is rebuilt from the sidecar, wrapped by
    :func:`lrh_tflm.tflite.qat.quantize_aware` and the weights loaded in its
    :func:`~lrh_tflm.tflite.qat.quantize_scope`.

    Parameters
    ----------
    path
        A folder written by :func:`save_model`.

    Returns
    -------
    (tf_keras.Model, dict)
        The model and its sidecar.

    Raises
    ------
    FileNotFoundError
        ``path`` is not a saved model folder.
    ValueError
        The weights do not fit the model the sidecar describes.
    """
    # Lazy: lrh_tflm.models and tfmot import TensorFlow; reading sidecars and bundles must not.
    from lrh_tflm.models import build_model
    from lrh_tflm.tflite.qat import quantize_aware, quantize_scope

    path = Path(path)
    meta = read_sidecar(path)
    weights = path / WEIGHTS_FILE
    if not weights.is_file():
        raise FileNotFoundError(f"{path} is not a saved model (no {WEIGHTS_FILE} in it)")
    cfg = config_from_dict(meta["kind"], meta["model_config"])
    model = build_model(meta["kind"], cfg, int(meta["n_leads"]), int(meta["window"]),
                        int(meta["n_classes"]), name=meta.get("name"))
    qat = bool(meta.get("qat"))
    if qat:
        model = quantize_aware(model)
    try:
        if qat:
            with quantize_scope():
                model.load_weights(str(weights))
        else:
            model.load_weights(str(weights))
    except (ValueError, OSError) as err:
        raise ValueError(f"{weights}: weights do not fit the {'QAT ' if qat else ''}model its "
                         f"sidecar describes ({err})") from None
    return model, meta


# ----------------------------------------------------------------------------- .tflite bundles


def sidecar_path(tflite_path: Path) -> Path:
    """Where a model's sidecar lives: ``<model>.json`` beside ``<model>.tflite``."""
    return Path(tflite_path).with_suffix(".json")


def write_model_bundle(tflite_bytes: bytes, sidecar: dict, out_dir: Path,
                       name: str = "model") -> Path:
    """Write ``<name>.tflite`` and its sidecar ``<name>.json`` (with the model's SHA-256).

    Returns
    -------
    Path
        The ``.tflite`` path.
    """
    out_dir = Path(out_dir)
    path = out_dir / f"{name}.tflite"
    write_bytes_atomic(path, bytes(tflite_bytes))
    write_json_atomic(sidecar_path(path), {**sidecar, "tflite_sha256": sha256_bytes(bytes(tflite_bytes))})
    return path


def read_bundle_sidecar(model_path: Path, sidecar: Path | None = None) -> dict:
    """Read a ``.tflite``'s sidecar (default ``<model>.json`` beside ``<model>.tflite``).

    Raises
    ------
    FileNotFoundError
        Naming the path looked for.
    ValueError
        If the sidecar is not valid JSON or lacks the fields inference needs.
    """
    path = Path(sidecar) if sidecar is not None else sidecar_path(Path(model_path))
    if not path.is_file():
        raise FileNotFoundError(f"no sidecar for {model_path}: {path} not found (export writes "
                                "<model>.json beside <model>.tflite; or pass --sidecar)")
    try:
        data = json.loads(path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as err:
        raise ValueError(f"{path}: not a valid JSON sidecar ({err})") from None
    if not isinstance(data, dict):
        raise SidecarError(f"{path}: a sidecar is a JSON object, not {type(data).__name__}")
    missing = [k for k in BUNDLE_REQUIRED if k not in data]
    if missing:
        raise ValueError(f"{path}: sidecar lacks {', '.join(missing)}")
    try:
        Sidecar.from_dict(data)  # one error naming the sidecar, not one per record
    except (SidecarError, TypeError, ValueError, KeyError) as err:
        raise SidecarError(f"sidecar {path}: {err}") from None
    return data


def read_any_sidecar(model: Path) -> tuple[str, dict]:
    """(``"keras"`` or ``"tflite"``, sidecar) for a saved Keras folder or a ``.tflite``."""
    model = Path(model)
    if model.is_dir():
        return "keras", read_sidecar(model)
    if model.suffix == ".tflite":
        return "tflite", read_bundle_sidecar(model)
    raise FileNotFoundError(f"{model}: not a saved model folder or a .tflite file")


# ----------------------------------------------------------------------------- sidecar fields


def preprocess_config(sidecar: dict) -> PreprocessConfig:
    """The :class:`PreprocessConfig` saved in a sidecar (``"preprocessing"``), with fs/window/leads.

    JSON lists become tuples; fields the sidecar does not name keep their defaults.
    """
    raw = dict(sidecar.get("preprocessing") or {})
    known = {f.name for f in fields(PreprocessConfig)}
    kwargs = {k: tuple(v) if isinstance(v, list) else v for k, v in raw.items() if k in known}
    for key in ("fs", "window"):
        if key in sidecar:
            kwargs[key] = sidecar[key]
    if "leads" in sidecar:
        kwargs["leads"] = tuple(sidecar["leads"])
    return PreprocessConfig(**kwargs)


def sidecar_classes(sidecar: dict) -> tuple[list[str], list[str]]:
    """(class codes, abbreviations) from a sidecar's ``classes`` entry (dict or plain list)."""
    cls = sidecar.get("classes")
    if isinstance(cls, dict):
        codes = [str(c) for c in cls.get("classes", [])]
        abbr = [str(a) for a in cls.get("abbreviations", codes)]
    elif isinstance(cls, (list, tuple)):
        codes = [str(c) for c in cls]
        abbr = [str(a) for a in sidecar.get("abbreviations", codes)]
    else:
        raise SidecarError("the sidecar names no classes")
    if len(abbr) != len(codes):
        raise SidecarError(f"sidecar has {len(codes)} classes but {len(abbr)} abbreviations")
    return codes, abbr


#: The firmware's decision smoothing when a sidecar names none (bundles written before
#: profiles carried it): :data:`lrh_tflm.config.DEFAULT_SMOOTHING`, 2 of the last 3 windows.
#: The generated header carries it as ``kSmoothK``/``kSmoothN``.
DEFAULT_SMOOTHING = CONFIG_DEFAULT_SMOOTHING


def sidecar_smoothing(sidecar: dict) -> tuple[int, int]:
    """``(k, n)`` of the model's decision smoothing: the sidecar's ``"smoothing"``
    (``{"k": …, "n": …}``), else :data:`DEFAULT_SMOOTHING`.

    Raises
    ------
    SidecarError
        Unless ``1 <= k <= n <= 32`` (the firmware keeps one 32-bit history per class).
    """
    raw = sidecar.get("smoothing")
    k, n = (int(raw["k"]), int(raw["n"])) if raw else DEFAULT_SMOOTHING
    if not 1 <= k <= n <= 32:
        raise SidecarError(f"smoothing {k} of {n} windows: need 1 <= k <= n <= 32")
    return k, n


def sidecar_thresholds(sidecar: dict, codes: Sequence[str]) -> list[float]:
    """Per-class thresholds (list, or dict keyed by class code); 0.5 when the sidecar has none."""
    th = sidecar.get("thresholds")
    if th is None:
        return [0.5] * len(codes)
    if isinstance(th, dict):
        missing = [c for c in codes if c not in th]
        if missing:
            raise SidecarError(f"sidecar thresholds miss class(es) {', '.join(missing)}")
        return [float(th[c]) for c in codes]
    th = [float(t) for t in th]
    if len(th) != len(codes):
        raise SidecarError(f"sidecar has {len(th)} thresholds for {len(codes)} classes")
    return th


def _check_preprocessing(pre: PreprocessConfig) -> None:
    """Raise :class:`SidecarError` for settings no record could be preprocessed with: checked
    once when the sidecar is read, not found again in every record."""
    try:
        leads = tuple(canonical_name(str(lead)) for lead in pre.leads)
    except LeadError as err:
        raise SidecarError(f"leads: {err}") from None
    if not leads or len(set(leads)) != len(leads):
        raise SidecarError(f"leads {list(pre.leads)}: need one or more distinct leads")
    try:
        fs, window = float(pre.fs), int(pre.window)
        low, high = (float(f) for f in pre.band_hz)
        order = int(pre.filter_order)
    except (TypeError, ValueError):
        raise SidecarError(f"fs {pre.fs!r}, window {pre.window!r}, band_hz {pre.band_hz!r} or "
                           f"filter_order {pre.filter_order!r} is not a number") from None
    if not math.isfinite(fs) or fs <= 0:
        raise SidecarError(f"fs {pre.fs!r}: the sampling rate must be a positive number of Hz")
    if window < 1 or window != pre.window:
        raise SidecarError(f"window {pre.window!r}: must be a positive number of samples")
    if not 0 < low < high < fs / 2 or order < 1:
        raise SidecarError(f"band-pass {low:g}–{high:g} Hz (order {order}) does not fit "
                           f"0 < low < high < fs/2 = {fs / 2:g} Hz")
    if pre.normalise not in ("zscore", "none"):
        raise SidecarError(f"normalise {pre.normalise!r}: expected 'zscore' or 'none'")


@dataclass(frozen=True)
class Sidecar:
    """What a model's sidecar says, typed: the one reading of its fields every consumer uses.

    Built by :meth:`from_dict` (one strictness for all: classes and abbreviations must pair
    up, one threshold per class, ``1 <= k <= n <= 32``); the JSON dict stays available as
    :attr:`raw` for the fields only the report or the build read.

    Attributes
    ----------
    leads, fs, window
        Input leads (canonical names), sampling rate and window length.
    codes, abbreviations
        Class codes and their abbreviations, in output order.
    thresholds
        Decision threshold per class on the sigmoid probability (0.5 when none are saved).
    preprocessing
        The training preprocessing (:class:`~lrh_tflm.config.PreprocessConfig`).
    hop
        The board's hop between windows (``None`` in sidecars written before it was saved).
    smoothing
        ``(k, n)`` of the board's decision smoothing.
    quantization
        ``"qat"``, ``"ptq"`` or ``None`` (a float model).
    qat
        The saved weights are a QAT graph's.
    raw
        The sidecar as read.
    """

    leads: tuple[str, ...]
    fs: float
    window: int
    codes: tuple[str, ...]
    abbreviations: tuple[str, ...]
    thresholds: tuple[float, ...]
    preprocessing: PreprocessConfig
    hop: int | None
    smoothing: tuple[int, int]
    quantization: str | None
    qat: bool
    raw: dict = field(repr=False, compare=False)

    @classmethod
    def from_dict(cls, sidecar: dict) -> "Sidecar":
        """Parse a sidecar dict (a saved folder's or a bundle's).

        Raises
        ------
        SidecarError
            Classes, abbreviations or thresholds that do not pair up, bad smoothing.
        """
        try:
            pre = preprocess_config(sidecar)
        except (TypeError, ValueError) as err:
            raise SidecarError(f"unusable preprocessing settings ({err})") from None
        _check_preprocessing(pre)
        codes, abbr = sidecar_classes(sidecar)
        hop = sidecar.get("hop")
        if hop is not None and (not isinstance(hop, int) or isinstance(hop, bool) or hop < 1):
            raise SidecarError(f"hop {hop!r} is not a positive number of samples")
        return cls(leads=tuple(pre.leads), fs=float(pre.fs), window=int(pre.window),
                   codes=tuple(codes), abbreviations=tuple(abbr),
                   thresholds=tuple(sidecar_thresholds(sidecar, codes)), preprocessing=pre,
                   hop=int(hop) if hop else None, smoothing=sidecar_smoothing(sidecar),
                   quantization=sidecar.get("quantization"), qat=bool(sidecar.get("qat")),
                   raw=dict(sidecar))


__all__ = ["Sidecar", "WEIGHTS_FILE", "SIDECAR_FILE", "REQUIRED", "BUNDLE_REQUIRED", "SidecarError",
           "config_from_dict", "check_sidecar", "save_model", "read_sidecar", "load_model",
           "sidecar_path", "write_model_bundle", "read_bundle_sidecar",
           "read_any_sidecar", "preprocess_config", "sidecar_classes", "sidecar_thresholds",
           "DEFAULT_SMOOTHING", "sidecar_smoothing"]
