"""Score any saved model (Keras folder or int8/float ``.tflite``) on any dataset.

The data is prepared with the model's own preprocessing (from its sidecar), the model's
classes are looked up in the dataset's labels by name, and the model's saved thresholds
turn probabilities into decisions.
"""
from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np

from lrh_tflm import metrics as M
from lrh_tflm.artifact import Sidecar, load_model, read_any_sidecar
from lrh_tflm.config import LabelConfig, PreprocessConfig, SplitConfig
from lrh_tflm.data.cache import prepare
from lrh_tflm.data.pipeline import eval_windows
from lrh_tflm.data.ptbxl import parse_options
from lrh_tflm.data.splits import split_indices
from lrh_tflm.infer import Predictor


def align_labels(y: np.ndarray, data_classes, model_classes) -> tuple[np.ndarray, list[str]]:
    """Columns of ``y`` reordered to ``model_classes``; classes the data lacks are all-false.

    Returns the aligned matrix and the model classes missing from the data.
    """
    index = {c: i for i, c in enumerate(data_classes)}
    out = np.zeros((y.shape[0], len(model_classes)), dtype=bool)
    missing = []
    for j, c in enumerate(model_classes):
        if c in index:
            out[:, j] = y[:, index[c]]
        else:
            missing.append(c)
    return out, missing


def _trained_label_set(side: dict) -> str:
    """The label space a model with non-SNOMED classes was trained on: the PTB-XL label set
    its training data spec names (``ptbxl:DIR?labels=rhythm``), else every code seen."""
    spec = str((side.get("data") or {}).get("spec") or "")
    if spec.startswith("ptbxl:") and "?" in spec:
        options = dict(parse_options(spec.partition("?")[2]))
        if options.get("labels"):
            return options["labels"]
    return "all"


def evaluate_model(model: Path, source, *, cache_dir: Path, problems, split: str = "all",
                   split_cfg: SplitConfig | None = None, runtime: str = "litert-ref",
                   workers: int | None = None, progress: bool = True) -> dict:
    """Challenge score, macro AUROC/AUPRC/F1 and a per-class table for one model on one dataset.

    Parameters
    ----------
    model
        A saved Keras model folder or a ``.tflite`` with its ``<model>.json`` sidecar.
    source
        A data source (:func:`lrh_tflm.data.sources.open_source`).
    cache_dir
        Cache root for the prepared data.
    problems
        :class:`lrh_tflm.data.record.ProblemLog` receiving skipped records.
    split
        ``all`` records, or ``train``/``val``/``test`` of the dataset's split (official folds
        where the dataset has them, else stratified folds of ``split_cfg`` — by default the
        split the model was trained with, as saved in its sidecar).
    runtime
        Interpreter for ``.tflite`` models (``litert-ref``, ``litert`` or ``tflm``).

    Returns
    -------
    dict
        ``metrics`` (:func:`lrh_tflm.metrics.evaluate`), ``records``, ``missing_classes``,
        ``skipped`` (how many records), ``problems`` (``[record, reason]`` of each skipped
        record), ``warnings`` (the same for records used despite a warning), ...
    """
    kind, side = read_any_sidecar(model)
    meta = Sidecar.from_dict(side)
    pre = meta.preprocessing
    # The cache always stores the 12 canonical leads; the model's leads are cut from them.
    pre = replace(pre, leads=PreprocessConfig().leads)
    codes, abbr = list(meta.codes), list(meta.abbreviations)
    thresholds = np.asarray(meta.thresholds, dtype=float)
    space = "scored" if all(c[:1].isdigit() for c in codes) else _trained_label_set(side)
    # A broken .tflite is found before any record is read.
    predictor = Predictor(Path(model), side, runtime=runtime) if kind != "keras" else None
    prepared = prepare(source, pre, LabelConfig(space=space, min_count=0),
                       Path(cache_dir) / "prepared", problems=problems, workers=workers,
                       progress=progress)
    if split == "all":
        idx = np.arange(len(prepared))
    else:
        # The model's own split (saved by training) unless the caller overrides it.
        saved = (side.get("data") or {}).get("split")
        cfg = split_cfg or (SplitConfig(**saved) if saved else SplitConfig())
        idx = np.asarray(split_indices(prepared, cfg)[split])
    leads = tuple(side["leads"])
    # Scored on the windows the model was selected on: one centre window, or the mean over
    # windows every eval_hop samples (saved with its training configuration).
    hop = (side.get("train_config") or {}).get("eval_hop")
    ecg, demo, y = eval_windows(prepared, idx, int(pre.window), leads, hop=hop)
    y, missing = align_labels(y.astype(bool), prepared.classes.classes, codes)

    if kind == "keras":
        # Lazy: lrh_tflm.train imports TensorFlow, which .tflite models do not need.
        from lrh_tflm.train import predict_probs

        keras_model, _ = load_model(Path(model))
        probs = predict_probs(keras_model, {"ecg": ecg, "demo": demo})
    else:
        probs = predictor.predict_records(ecg, demo)
    result = M.evaluate(y, probs, codes, thresholds, abbr)
    return {"model": str(model), "kind": kind, "data": source.spec, "split": split,
            "records": int(len(idx)), "skipped": len(problems), "missing_classes": missing,
            "classes": codes, "abbreviations": abbr, "metrics": result,
            "problems": problems.as_pairs(), "warnings": problems.warning_pairs()}
