"""Stage recipes from a trained float student to int8 artefacts: QAT (KD continues), conversion.

Stage recipes used by :mod:`lrh_tflm.pipeline.build` and ``lrh-tflm export`` (and usable on
their own); each returns a dataclass (or the JSON summary the build records):

- :func:`qat_stage` — quantisation-aware fine-tuning of a saved student inside the same
  :class:`~lrh_tflm.distill.Distiller` and teachers as its KD stage (or nothing, for PTQ);
- :func:`int8_stage` — full-int8 and float ``.tflite`` files with sidecars, test-split
  metrics of the int8 model on the LiteRT reference kernels, and single-thread latencies;
- :func:`convert_student`, :func:`parity_stage`, :func:`export_stage` — the conversion,
  parity chain and firmware files of one saved student, shared by the build and the CLI.
"""
from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Sequence

import numpy as np
import tensorflow as tf
import tf_keras

from lrh_tflm import metrics as M
from lrh_tflm.artifact import (
    Sidecar,
    load_model,
    read_sidecar,
    save_model,
    sidecar_smoothing,
    write_model_bundle,
)
from lrh_tflm.config import TrainConfig
from lrh_tflm.data.cache import prepare
from lrh_tflm.data.pipeline import eval_windows, representative_windows
from lrh_tflm.data.record import ProblemLog
from lrh_tflm.data.sources import open_source
from lrh_tflm.data.splits import split_indices
from lrh_tflm.device.codegen import ExportResult, export_firmware
from lrh_tflm.distill import Distiller, DistillStep
from lrh_tflm.infer import Predictor
from lrh_tflm.io import finite, write_bytes_atomic
from lrh_tflm.leads import lead_indices
from lrh_tflm.tflite.convert import check_ops, convert_float, convert_int8
from lrh_tflm.tflite.parity import ParityReport, parity_chain
from lrh_tflm.tflite.qat import calibrate_ranges, quantize_aware, unquantized_layers
from lrh_tflm.tflite.runtime import make_runner
from lrh_tflm.tflite.schema import tflite_ops
from lrh_tflm.train import predict_probs, train_model, training_data


@dataclass
class PreparedData:
    """The data step's result: the source, the records it skipped, the prepared cache, splits."""

    source: object
    problems: ProblemLog
    prepared: object
    splits: dict


def prepare_data(spec: str, profile, cache_dir: Path, *, strict: bool = False,
                 workers: int | None = None, progress: bool = True) -> PreparedData:
    """Open a data spec, prepare it with the profile (cached) and split it.

    The one data step of ``lrh-tflm build``, ``train``/``distill``/``export`` and the
    benchmarks: ``open_source`` → ``prepare`` (problems logged, or raised with ``strict``)
    → ``split_indices(profile.split)``.
    """
    source = open_source(spec, cache_dir=cache_dir, synth=profile.synth, progress=progress)
    problems = ProblemLog(strict=strict)
    prepared = prepare(source, profile.data, profile.labels, Path(cache_dir) / "prepared",
                       problems=problems, workers=workers, progress=progress)
    return PreparedData(source, problems, prepared, split_indices(prepared, profile.split))


def walk_schedule(steps: Sequence[DistillStep], train: Callable[[DistillStep, list], object],
                  trained: dict | None = None) -> dict:
    """Train the steps of a KD schedule in order, each from the models trained so far.

    Parameters
    ----------
    steps
        :func:`lrh_tflm.distill.distill_schedule`.
    train
        ``train(step, teachers)`` trains ``step.target`` distilled from ``teachers`` (the
        entries of ``trained`` that ``step.teachers`` names, in order) and returns what
        later steps use as that teacher (a model folder, a stage result …).
    trained
        What exists before the first step: ``{"teacher": …}`` and, where a scheme uses a
        reduced-lead teacher it does not train itself, ``"assistant"``.

    Returns
    -------
    dict
        ``trained`` with every step's target added.
    """
    trained = dict(trained or {})
    for step in steps:
        trained[step.target] = train(step, [trained[t] for t in step.teachers])
    return trained


@dataclass
class QATResult:
    """A finished QAT (or PTQ pass-through) stage."""

    model_dir: Path
    qat: bool
    test_metrics: dict
    val_metrics: dict
    seconds: float
    epochs: int

    def summary(self) -> dict:
        return {"model_dir": str(self.model_dir), "qat": self.qat,
                "test_score": self.test_metrics.get("score"),
                "test_auroc": self.test_metrics.get("auroc"),
                "val_score": self.val_metrics.get("score"), "epochs": self.epochs,
                "seconds": self.seconds}


def qat_stage(student_dir: Path, prepared, splits: dict, *, profile, out_dir: Path,
              teachers: Sequence[Path] = (), teacher_weights: Sequence[float] | None = None,
              strategy=None, seed: int = 0, verbose: int = 1) -> QATResult:
    """Quantisation-aware fine-tuning of a saved student, distillation continuing.

    The QAT model's activation ranges start at those of ``profile.quant.representative_windows``
    training windows (:func:`lrh_tflm.tflite.qat.calibrate_ranges`), then QAT refines them.

    With ``profile.quant.mode == "ptq"`` nothing is trained: the float student is passed on
    and the int8 stage quantises it post-training.

    Parameters
    ----------
    student_dir
        The saved float student (:mod:`lrh_tflm.artifact`).
    prepared, splits
        Prepared data and its splits.
    profile
        Uses ``profile.quant`` (epochs, learning rate), ``profile.student_train`` (batch size)
        and ``profile.kd``.
    out_dir
        Stage folder: ``train/`` and ``model/`` (weights of the QAT model, sidecar with
        ``"qat": true``).
    teachers, teacher_weights
        The student's KD teachers (saved folders) and their weights; empty: labels only.
    strategy
        tf.distribute strategy; the QAT model, its teachers and the optimiser are created
        under its scope (``None``: the current one).

    Returns
    -------
    QATResult
    """
    t0 = time.perf_counter()
    out_dir = Path(out_dir)
    quant = profile.quant
    side = read_sidecar(student_dir)
    if quant.mode == "ptq":
        return QATResult(Path(student_dir), False, side["metrics"]["test"], side["metrics"]["val"],
                         0.0, 0)
    if quant.mode != "qat":
        raise ValueError(f"unknown quantisation mode {quant.mode!r}; choose qat or ptq")
    strategy = strategy or tf.distribute.get_strategy()
    with strategy.scope():  # the QAT clone's variables (and the teachers') are replicated
        qat_model = quantize_aware(load_model(student_dir)[0])
    left = unquantized_layers(qat_model)
    if left:
        raise ValueError(f"QAT left layers in float: {', '.join(left)}")
    cached = prepared.leads
    window = int(prepared.pre.window)
    cal_ecg, cal_demo = representative_windows(prepared, splits["train"],
                                               quant.representative_windows, window,
                                               leads=side["leads"], seed=seed)
    calibrate_ranges(qat_model, ({"ecg": cal_ecg[i:i + 64], "demo": cal_demo[i:i + 64]}
                                 for i in range(0, len(cal_ecg), 64)))
    classes = list(prepared.classes.classes)
    with strategy.scope():
        loaded = [(load_model(p)[0], lead_indices(read_sidecar(p)["leads"], cached))
                  for p in teachers]
        distiller = Distiller(qat_model, loaded, student_leads=lead_indices(side["leads"], cached))
    # The student's own crop grid and evaluation windows, so QAT distils on the same crops
    # (and the same cached teacher logits) as the float student did.
    cfg = TrainConfig(epochs=quant.qat_epochs, batch_size=profile.student_train.batch_size,
                      lr=quant.qat_lr, lr_drops=(), patience=max(quant.qat_epochs, 1),
                      crop_step=profile.student_train.crop_step,
                      eval_hop=profile.student_train.eval_hop)
    train_ds, val_ds, val_data = training_data(prepared, splits, cfg, teachers=loaded,
                                          teacher_leads=[read_sidecar(p)["leads"] for p in teachers],
                                          kd=profile.kd, seed=seed)
    result = train_model(distiller, train_ds, val_ds, cfg, out_dir / "train", classes=classes,
                         val_data=val_data, seed=seed, strategy=strategy,
                         kd=profile.kd, teacher_weights=teacher_weights if loaded else None,
                         abbreviations=prepared.classes.abbreviations, verbose=verbose)
    ecg, demo, y_test = eval_windows(prepared, splits["test"], window, hop=cfg.eval_hop)
    probs = predict_probs(distiller, {"ecg": ecg, "demo": demo})
    test_metrics = M.evaluate(y_test.astype(bool), probs, classes, result.thresholds,
                              prepared.classes.abbreviations)
    sidecar = {**side, "qat": True, "role": "student-qat",
               "thresholds": [round(float(t), 6) for t in result.thresholds],
               "metrics": finite({"val": result.val_metrics, "test": test_metrics}),
               "qat_config": {"epochs": quant.qat_epochs, "lr": quant.qat_lr,
                              "from": str(student_dir)}}
    model_dir = save_model(result.model, out_dir / "model", sidecar)
    return QATResult(model_dir, True, test_metrics, result.val_metrics,
                     time.perf_counter() - t0, result.epochs_run)


def median_latency_ms(tflite_bytes: bytes, *, runs: int = 50, warmup: int = 5,
                      runtime: str = "litert") -> float:
    """Median wall time (ms) of one single-thread LiteRT invoke on a zero input window."""
    runner = make_runner(tflite_bytes, runtime, num_threads=1)
    feeds = [np.zeros(t.shape, dtype=t.dtype) for t in (runner.ecg, runner.demo) if t is not None]
    for _ in range(warmup):
        runner.run(*feeds)
    times = []
    for _ in range(runs):
        t0 = time.perf_counter()
        runner.run(*feeds)
        times.append(time.perf_counter() - t0)
    return 1000.0 * float(np.median(times))


@dataclass
class Int8Model:
    """A saved student converted to full int8, ready to be written as a bundle.

    Attributes
    ----------
    tflite
        The TFLM-clean flatbuffer.
    keras_model
        The Keras model it was converted from (float, or the QAT graph).
    sidecar
        The saved model's sidecar plus what the bundle adds (:func:`bundle_sidecar`).
    """

    tflite: bytes
    keras_model: object
    sidecar: dict

    @property
    def mode(self) -> str:
        """``"qat"`` or ``"ptq"``."""
        return self.sidecar["quantization"]


def bundle_sidecar(side: dict, *, mode: str, hop: int, ops: Sequence[str],
                   smoothing: tuple[int, int] | None = None) -> dict:
    """The int8 bundle's sidecar: the saved model's plus ``quantization``, ``hop`` (the board's
    hop between windows), ``smoothing`` (the board's k-of-n decision smoothing) and the ops.

    ``hop`` and ``smoothing`` become ``kHopSamples`` and ``kSmoothK``/``kSmoothN`` in the
    generated header; ``lrh-tflm run``, ``stream`` and the simulated device read them back.
    """
    k, n = sidecar_smoothing({"smoothing": {"k": smoothing[0], "n": smoothing[1]}}
                             if smoothing is not None else side)
    return {**side, "quantization": mode, "hop": int(hop), "smoothing": {"k": k, "n": n},
            "tflite_ops": list(ops)}


def convert_student(model_dir: Path, prepared, splits: dict, *, profile, seed: int = 0,
                    mode: str = "auto") -> Int8Model:
    """Load a saved student (float or QAT) and convert it to full int8.

    The one conversion recipe: the build's int8 stage and ``lrh-tflm export`` both call it,
    so a QAT model exports through the CLI exactly as the build exports it.

    Parameters
    ----------
    model_dir
        A saved model folder (:mod:`lrh_tflm.artifact`); ``"qat": true`` in its sidecar
        loads the QAT graph.
    prepared, splits
        Prepared data and its splits; ``profile.quant.representative_windows`` training
        windows (drawn with ``seed``) calibrate the activation ranges.
    profile
        Uses ``profile.quant``, ``profile.hop`` and ``profile.smoothing``.
    mode
        ``"auto"`` (QAT for a QAT model, else PTQ), ``"qat"`` or ``"ptq"``.

    Raises
    ------
    ValueError
        ``mode`` contradicts the saved weights (QAT asked of a float model or PTQ of a QAT one).
    """
    # The converter orders operators (and so the flatbuffer's bytes) by the graph's names,
    # and Keras names unnamed layers by how many the process built before ("add_3"): fresh
    # names make the int8 model a function of the saved model alone, so `lrh-tflm export`
    # writes the build's bytes.  Nothing built earlier is used after this point.
    tf_keras.backend.clear_session()
    model, side = load_model(model_dir)
    saved = "qat" if side.get("qat") else "ptq"
    mode = saved if mode == "auto" else mode
    if mode not in ("qat", "ptq"):
        raise ValueError(f"unknown quantisation mode {mode!r}; choose auto, qat or ptq")
    if mode == "qat" and saved != "qat":
        raise ValueError(f"{model_dir} holds float weights (not QAT fine-tuned); QAT fine-tuning "
                         "runs in `lrh-tflm build`. Use --quantization ptq to quantise it "
                         "post-training.")
    if mode == "ptq" and saved == "qat":
        raise ValueError(f"{model_dir} holds QAT weights; convert it with --quantization qat "
                         f"(or auto), or quantise its float student ({side.get('qat_config', {}).get('from', '?')}) post-training.")
    ecg, demo = representative_windows(prepared, splits["train"], profile.quant.representative_windows,
                                       int(prepared.pre.window), tuple(side["leads"]), seed=seed)
    int8 = convert_int8(model, [(ecg[i:i + 1], demo[i:i + 1]) for i in range(len(ecg))])
    ops = check_ops(int8)
    return Int8Model(int8, model, bundle_sidecar(side, mode=mode, hop=profile.hop, ops=ops,
                                                 smoothing=profile.smoothing))


def parity_stage(converted: Int8Model, prepared, indices: Sequence[int], *,
                 tflm_tolerance_lsb: int = 0, max_lsb: int = 1) -> ParityReport:
    """The parity chain of a converted model on the windows of ``indices``.

    Thresholds and class names come from the model's sidecar; the Keras model it was
    converted from is the decision reference.  Shared by the build and ``lrh-tflm export``.
    """
    side = converted.sidecar
    idx = np.asarray(indices, dtype=np.int64)
    ecg, demo, _ = eval_windows(prepared, idx, int(prepared.pre.window), tuple(side["leads"]))
    meta = Sidecar.from_dict(side)
    return parity_chain(converted.tflite, ecg, demo, [prepared.names[i] for i in idx],
                        thresholds=meta.thresholds, classes=meta.abbreviations,
                        keras_model=converted.keras_model, max_lsb=max_lsb,
                        tflm_tolerance_lsb=tflm_tolerance_lsb)


def export_stage(tflite_path: Path, sidecar: dict, out_dir: Path, *, profile) -> ExportResult:
    """The firmware files of an int8 bundle, with the profile's arena margin.

    The hop written to ``kHopSamples`` is the bundle's own (``sidecar["hop"]``), else the
    profile's.  Shared by the build and ``lrh-tflm export``.
    """
    return export_firmware(tflite_path, sidecar, out_dir, hop=int(sidecar.get("hop") or profile.hop),
                           arena_margin=profile.quant.arena_margin,
                           arena_margin_bytes=profile.quant.arena_margin_bytes)


def int8_stage(converted: Int8Model, float_dir: Path, teacher_dir: Path, prepared, splits: dict, *,
               profile, out_dir: Path, latency_runs: int = 50) -> dict:
    """Write the converted student beside float ``.tflite`` references; score and time them.

    Writes ``student_int8.tflite``/``.json`` (``converted``, from :func:`convert_student`),
    ``student_float.tflite``/``.json`` (the float student of ``float_dir``),
    ``teacher_float.tflite`` and ``test_probs.npy`` (int8 model on the test split, LiteRT
    reference kernels) into ``out_dir``.

    Returns
    -------
    dict
        Paths, sizes, ops, test metrics of the int8 model and median latencies (ms) of the
        float teacher, float student and int8 student (LiteRT, one thread).
    """
    out_dir = Path(out_dir)
    int8, side = converted.tflite, converted.sidecar
    float_model, float_side = load_model(float_dir)
    teacher, _ = load_model(teacher_dir)
    leads = tuple(side["leads"])
    window = int(prepared.pre.window)
    student_float = convert_float(float_model)
    teacher_float = convert_float(teacher)
    int8_path = write_model_bundle(int8, side, out_dir, "student_int8")
    float_path = write_model_bundle(student_float, float_side, out_dir, "student_float")
    teacher_path = out_dir / "teacher_float.tflite"
    write_bytes_atomic(teacher_path, teacher_float)

    test = np.asarray(splits["test"])
    # Scored like the float students: the mean over a record's eval_hop windows.
    t_ecg, t_demo, y = eval_windows(prepared, test, window, leads, hop=profile.student_train.eval_hop)
    probs = Predictor(int8_path, side, runtime="litert-ref").predict_records(t_ecg, t_demo)
    np.save(out_dir / "test_probs.npy", probs)
    classes = list(prepared.classes.classes)
    metrics = M.evaluate(y.astype(bool), probs, classes, np.asarray(side["thresholds"]),
                         prepared.classes.abbreviations)
    latency = {"teacher_float": median_latency_ms(teacher_float, runs=latency_runs),
               "student_float": median_latency_ms(student_float, runs=latency_runs),
               "student_int8": median_latency_ms(int8, runs=latency_runs),
               "runs": latency_runs, "threads": 1, "runtime": "LiteRT (XNNPACK), batch 1"}
    return finite({"int8": str(int8_path), "float": str(float_path), "teacher_float": str(teacher_path),
                    "tflite_bytes": len(int8), "float_bytes": len(student_float),
                    "teacher_float_bytes": len(teacher_float), "ops": tflite_ops(int8),
                    "test_probs": str(out_dir / "test_probs.npy"), "test_metrics": metrics,
                    "test_score": metrics["score"], "test_auroc": metrics["auroc"],
                    "latency_ms": latency})
