"""``lrh-tflm build``: records to a firmware-ready int8 model, as a chain of resumable stages.

This module only orchestrates: every stage calls the library (data, train, the recipes of
:mod:`lrh_tflm.pipeline.recipes`, parity, codegen, report) and records its summary through
:class:`lrh_tflm.pipeline.stages.StageRunner`,
which reuses a stage whose inputs and configuration are unchanged and resumes a killed build
from the last finished stage.

Stages (folders under ``--out``)::

    data                prepared 12-lead cache, splits, problems
    teacher-12          SE-ResNet18 on 12 leads
    teacher-reduced     SE-ResNet18 on the reduced leads (trained, or distilled as the assistant)
    student-kd          LRH-Net on the student's leads, distilled with the chosen scheme
    student-none        LRH-Net without KD (the baseline of the KD gain)
    qat                 quantisation-aware fine-tuning (KD continues) — or PTQ only
    int8                full-int8 and float .tflite files, latency
    parity              TFLM == LiteRT-reference, XNNPACK ≤ 1 LSB per kernel, decisions
    export              C array, settings, op resolver, footprint (and --firmware copy)
    report              report.md, figures, model_card.json, benchmark.json
"""
from __future__ import annotations

import functools
import hashlib
import os
import platform
import time
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Callable

import lrh_tflm.models as models
from lrh_tflm.artifact import load_model, read_bundle_sidecar
from lrh_tflm.config import STUDENT_VARIANTS, Profile, get_profile, kd_recipe
from lrh_tflm.device.codegen import FIRMWARE_FILES
from lrh_tflm.device.hostbuild import write_sketch
from lrh_tflm.distill import distill_schedule
from lrh_tflm.io import write_bytes_atomic, write_json_atomic
from lrh_tflm.leads import LEADS, label, parse_leads
from lrh_tflm.pipeline import recipes
from lrh_tflm.pipeline.report import make_build_report
from lrh_tflm.pipeline.stages import StageResult, StageRunner
from lrh_tflm.train import STRATEGIES, distilled_train_config, get_strategy, train_stage

#: Parity limits of the build's parity stage (lrh_tflm.tflite.parity): TFLM must equal LiteRT's
#: reference kernels bit for bit; a model that misses is still exported (the firmware runs
#: the TFLM kernels, which ``lrh-tflm run --runtime tflm`` reproduces exactly), but the
#: stage prints a warning, lists every failing window in parity.json and the report shows
#: the measured shares.  Both students convert without FULLY_CONNECTED (whose int8 rounding
#: differs between TFLM and LiteRT-ref); LRH-Net-MCU has been exact on every window
#: measured, the paper's LRH-Net can still differ by one step on rare values of its BN MULs.
PARITY_TFLM_TOLERANCE_LSB = 0

KD_SCHEMES = ("none", "vanilla", "parallel", "sequential")
STUDENTS = STUDENT_VARIANTS


@dataclass(frozen=True)
class BuildOptions:
    """What the user asked for; everything else comes from the profile."""

    leads: tuple[str, ...] = ("I", "II")
    """Student leads (canonical names)."""
    data: str = "synthetic"
    """Data spec (``synthetic``, ``challenge:DIR``, ``ptbxl:DIR``, ``csv:FILE`` or a folder)."""
    kd: str | None = None
    """KD scheme; ``None``: the profile's."""
    loss: str | None = None
    """Distillation loss; ``None``: the profile's (or the recipe's)."""
    recipe: str | None = None
    """Named KD recipe (:data:`lrh_tflm.config.KD_RECIPES`, e.g. ``paper``) replacing the
    profile's loss, α, T and teacher weights; ``None``: the profile's own."""
    student: str | None = None
    """Student variant; ``None``: the profile's."""
    profile: str = "default"
    """Profile name."""
    out: Path = Path("build")
    """Build folder."""
    firmware: Path | None = None
    """Also write the firmware files here (e.g. ``firmware/lrh_ecg``)."""
    seed: int = 0
    """Seed of weights, shuffling, crops and splits."""
    quantization: str | None = None
    """``qat`` or ``ptq``; ``None``: the profile's."""
    strict: bool = False
    """Stop at the first record problem instead of skipping it."""
    workers: int | None = None
    """Processes for data preparation."""
    verbose: int = 2
    """Keras progress output (0 silent, 1 bar, 2 one line per epoch)."""
    emulate: bool = False
    """Prove the exported firmware files on the emulated Cortex-M4F (QEMU ``mps2-an386``)
    before the report, which then quotes the measured instructions, flash, arena and
    real-time margin (:func:`lrh_tflm.device.emulator.emulate_export`)."""
    tflm_dir: Path | None = None
    """TFLM tree for ``emulate`` (``None``: the CMSIS-NN tree beside the checkout)."""
    strategy: str = "default"
    """tf.distribute strategy of every training stage (:func:`lrh_tflm.train.get_strategy`:
    ``default``, ``mirrored`` or ``multiworker``).  Not part of any stage key: it says where a
    stage trains, not what — the global batch, schedule and seed are the same on any number
    of replicas (only float summation order and per-replica batch-norm statistics differ, as
    they do between a CPU and a GPU, which no key names either), so a build started on one
    device resumes on several and a finished stage is reused whatever the strategy."""


@dataclass
class BuildResult:
    """A finished build."""

    out: Path
    stages: dict[str, StageResult]
    benchmark: dict
    report: Path
    seconds: float
    firmware_files: list[Path] = field(default_factory=list)


def resolve_profile(opts: BuildOptions) -> Profile:
    """The profile with the options' overrides applied (student variant, KD, quantisation, seed)."""
    profile = get_profile(opts.profile)
    if opts.kd is not None and opts.kd not in KD_SCHEMES:
        raise ValueError(f"unknown KD scheme {opts.kd!r}; choose one of {', '.join(KD_SCHEMES)}")
    if opts.student is not None and opts.student not in STUDENTS:
        raise ValueError(f"unknown student {opts.student!r}; choose one of {', '.join(STUDENTS)}")
    kd = profile.kd
    if opts.recipe is not None:
        # The recipe says how to distil; the profile keeps saying which scheme and leads.
        kd = replace(kd_recipe(opts.recipe), scheme=kd.scheme, assistant_leads=kd.assistant_leads)
    kd = replace(kd, **{k: v for k, v in (("scheme", opts.kd), ("loss", opts.loss)) if v})
    student = replace(profile.student, variant=opts.student or profile.student.variant)
    quant = replace(profile.quant, mode=opts.quantization or profile.quant.mode)
    split = replace(profile.split, seed=opts.seed)
    return replace(profile, kd=kd, student=student, quant=quant, split=split)


def models_fingerprint() -> str:
    """Hash of the model-building sources: saved weights only fit the graph that made them,
    so a change there must retrain instead of reusing a stage whose weights no longer load."""
    h = hashlib.sha256()
    for path in sorted(Path(models.__file__).parent.glob("*.py")):
        h.update(path.name.encode() + path.read_bytes())
    return h.hexdigest()[:16]


def machine_description() -> dict:
    """Where the numbers were measured."""
    cpu = platform.processor() or ""
    try:
        cpu = next((line.split(":", 1)[1].strip() for line in
                    Path("/proc/cpuinfo").read_text().splitlines()
                    if line.startswith("model name")), cpu)
    except OSError:
        pass
    return {"description": f"{platform.machine()} {cpu} "
                           f"{os.cpu_count()} cores, {platform.system()} {platform.release()}, "
                           f"Python {platform.python_version()}".replace("  ", " "),
            "cpu_count": os.cpu_count(), "python": platform.python_version()}


def _f3(x) -> str:
    return "n/a" if x is None or x != x else f"{x:.3f}"


def _headline(s: dict) -> str:
    """``score S, AUROC A`` — the challenge score only where the label space has one."""
    score = s.get("test_score")
    head = "" if score is None or score != score else f"score {score:.3f}, "
    return head + f"AUROC {_f3(s.get('test_auroc'))}"


def _describe_train(s: dict) -> str:
    return (f"{label(s['leads'])}: test {_headline(s)}, "
            f"{s.get('epochs')} epochs, {s.get('params'):,} params")


def build(opts: BuildOptions, *, cache_dir: Path, log: Callable[[str], None] = print,
          progress: bool = True) -> BuildResult:
    """Run (or resume) every stage of a build.

    Parameters
    ----------
    opts
        The user's options.
    cache_dir
        Where the synthetic default and prepared data caches live.
    log
        Receives one line per stage.
    progress
        Show progress bars (data preparation, Keras epochs).

    Returns
    -------
    BuildResult
    """
    t_start = time.perf_counter()
    profile = resolve_profile(opts)
    leads = parse_leads(opts.leads)
    reduced = parse_leads(profile.kd.assistant_leads) if profile.kd.assistant_leads else leads
    out = Path(opts.out)
    runner = StageRunner(out, log)
    verbose = opts.verbose if progress else 0
    if opts.strategy not in STRATEGIES:  # before the data stage, not at the first training stage
        raise ValueError(f"unknown strategy {opts.strategy!r}; choose one of {', '.join(STRATEGIES)}")
    # Created when a stage first trains, and once: a build whose stages are all reused needs
    # no devices (for multiworker, no cluster), and a process can hold only one
    # MultiWorkerMirroredStrategy.
    strategy = functools.cache(lambda: get_strategy(opts.strategy))

    # ---- data: always asks the cache (instant when prepared); its key feeds every stage.
    data, data_key = _data_stage(runner, opts, profile, cache_dir, progress=progress, log=log)
    source, prepared, splits = data.source, data.prepared, data.splits

    common = {"data": data_key, "seed": opts.seed, "profile": profile.name,
              "models": models_fingerprint()}

    def train(name: str, role: str, model_leads, teachers: tuple[StageResult, ...] = (),
              weights: tuple[float, ...] | None = None) -> StageResult:
        model_cfg = profile.teacher if role != "student" else profile.student
        train_cfg = profile.teacher_train if role != "student" else profile.student_train
        if teachers:
            # A distilled assistant trains on the students' crop grid, so its teacher's logits
            # are computed once per crop (KDConfig.cached_logits); a recipe may stretch the
            # schedule (KDConfig.epochs).
            train_cfg = distilled_train_config(
                replace(train_cfg, crop_step=profile.student_train.crop_step), profile.kd)
        key = {**common, "role": role, "leads": model_leads, "model": asdict(model_cfg),
               "train": asdict(train_cfg), "teachers": [t.key for t in teachers],
               "kd": asdict(profile.kd) if teachers else None, "weights": weights}

        def fn(folder: Path) -> dict:
            trained = train_stage(role, prepared, splits, leads=model_leads, profile=profile,
                                  out_dir=folder,
                                  teachers=[Path(t.summary["model_dir"]) for t in teachers],
                                  teacher_weights=weights, strategy=strategy(), seed=opts.seed,
                                  train_cfg=train_cfg, verbose=verbose)
            return trained.summary()

        return runner.run(name, key, fn, _describe_train)

    steps = distill_schedule(profile.kd.scheme, profile.kd.teacher_weights)
    trained = {"teacher": train("teacher-12", "teacher", LEADS)}
    # The reduced-lead teacher is always reported: distilled as the assistant where the
    # scheme has an assistant step (sequential), otherwise trained on labels here.
    if not any(s.target == "assistant" for s in steps):
        trained["assistant"] = train("teacher-reduced", "assistant", reduced)
    stage_of = {"assistant": ("teacher-reduced", reduced), "student": ("student-kd", leads)}

    def kd_step(step, teachers: list[StageResult]) -> StageResult:
        name, step_leads = stage_of[step.target]
        return train(name, step.target, step_leads, tuple(teachers),
                     step.weights if teachers else None)

    trained = recipes.walk_schedule(steps, kd_step, trained)
    train("student-none", "student", leads)  # the baseline every KD figure is measured against
    student_step = next(s for s in steps if s.target == "student")

    # ---- quantisation and deployment
    export = _deployment_stages(runner, common, profile, prepared, splits, trained,
                                student_step, seed=opts.seed, verbose=verbose, log=log,
                                strategy=strategy)
    if opts.emulate:  # before the copy into the sketch: it writes the measured footprint.json
        _emulate_stage(runner, common, export, opts.tflm_dir)
    firmware_files = []
    if opts.firmware is not None:
        firmware_files = install_firmware(Path(export.summary["files"][0]).parent, opts.firmware)
        log(f"[firmware] wrote {', '.join(p.name for p in firmware_files)} to {firmware_files[0].parent}")

    stage_seconds = {name: round(r.seconds, 2) for name, r in runner.results.items()}
    total = time.perf_counter() - t_start
    report_path, bench = make_build_report(out / "report", opts=opts, profile=profile,
                                     prepared=prepared, splits=splits, stages=runner.results,
                                     stage_seconds=stage_seconds, machine=machine_description(),
                                     # The spec the records were prepared from: PTB-XL's
                                     # names the label set the label space chose.
                                     data_spec=prepared.manifest.get("spec", source.spec))
    total = time.perf_counter() - t_start
    bench["total_seconds"] = round(total, 1)
    write_json_atomic(out / "report" / "benchmark.json", bench)
    log(f"[report] {report_path}")
    log(f"build finished in {total:.1f} s → {out}")
    return BuildResult(out, dict(runner.results), bench, report_path, total, firmware_files)


def _data_stage(runner: StageRunner, opts: BuildOptions, profile: Profile, cache_dir: Path, *,
                progress: bool, log: Callable[[str], None]):
    """The data stage: prepare (cached) and split the data, record splits and problems.

    Returns
    -------
    (recipes.PreparedData, dict)
        The data and its stage key material (cache key and split), which every later
        stage's key includes.
    """
    t0 = time.perf_counter()
    data = recipes.prepare_data(opts.data, profile, cache_dir, strict=opts.strict,
                                workers=opts.workers, progress=progress)
    prepared, splits, problems = data.prepared, data.splits, data.problems
    data_key = {"cache": prepared.manifest["key"], "split": asdict(profile.split)}

    def fn(folder: Path) -> dict:
        write_json_atomic(folder / "splits.json", {k: [prepared.names[i] for i in v]
                                                   for k, v in splits.items()})
        problems.save(folder / "problems.json")
        return {"records": len(prepared), "classes": len(prepared.classes),
                "train": len(splits["train"]), "val": len(splits["val"]),
                "test": len(splits["test"]), "skipped": len(problems),
                "cache": str(prepared.path), "prep_seconds": time.perf_counter() - t0}

    runner.run("data", data_key, fn,
               lambda s: (f"{s['records']} records, {s['classes']} classes, "
                          f"{s['train']}/{s['val']}/{s['test']} train/val/test, "
                          f"{s['skipped']} skipped"))
    if len(problems):
        log(problems.summary(limit=5))
    return data, data_key


def _deployment_stages(runner: StageRunner, common: dict, profile: Profile, prepared, splits: dict,
                       trained: dict[str, StageResult], student_step, *, seed: int, verbose: int,
                       log: Callable[[str], None], strategy: Callable | None = None) -> StageResult:
    """QAT → int8 → parity → export of the distilled student (``trained["student"]``).

    ``strategy`` returns the tf.distribute strategy QAT trains under (called only when it
    trains).  Returns the export stage's result (its summary lists the firmware files).
    """
    teacher12, student_kd = trained["teacher"], trained["student"]
    kd_teachers = tuple(trained[t] for t in student_step.teachers)
    qat_key = {**common, "student": student_kd.key, "quant": asdict(profile.quant),
               "teachers": [t.key for t in kd_teachers], "kd": asdict(profile.kd)}

    def qat_fn(folder: Path) -> dict:
        return recipes.qat_stage(Path(student_kd.summary["model_dir"]), prepared, splits,
                                 profile=profile, out_dir=folder,
                                 teachers=[Path(t.summary["model_dir"]) for t in kd_teachers],
                                 teacher_weights=student_step.weights if kd_teachers else None,
                                 strategy=strategy() if strategy else None,
                                 seed=seed, verbose=verbose).summary()

    qat = runner.run("qat", qat_key, qat_fn)

    # The int8 stage's conversion when it ran in this process: parity then checks that model
    # against the Keras graph it came from without loading the QAT model a second time.
    converted: list[recipes.Int8Model] = []

    def int8_fn(folder: Path) -> dict:
        converted.append(recipes.convert_student(Path(qat.summary["model_dir"]), prepared,
                                                 splits, profile=profile, seed=seed))
        return recipes.int8_stage(converted[-1], Path(student_kd.summary["model_dir"]),
                                  Path(teacher12.summary["model_dir"]), prepared, splits,
                                  profile=profile, out_dir=folder)

    int8 = runner.run("int8", {**common, "qat": qat.key, "smoothing": profile.smoothing}, int8_fn,
                      lambda s: (f"{s['tflite_bytes']:,} B int8, test {_headline(s)}, "
                                 f"{s['latency_ms']['student_int8']:.2f} ms"))

    def parity_fn(folder: Path) -> dict:
        tfl = Path(int8.summary["int8"])
        model = converted[-1] if converted else recipes.Int8Model(
            tfl.read_bytes(), load_model(Path(qat.summary["model_dir"]))[0], read_bundle_sidecar(tfl))
        report = recipes.parity_stage(model, prepared, splits["test"],
                                      tflm_tolerance_lsb=PARITY_TFLM_TOLERANCE_LSB)
        report.save(folder / "parity.json")
        if not report.passed:
            log(f"[parity] warning: {report.summary()} — failing windows in {folder / 'parity.json'}")
        return report.to_dict()

    runner.run("parity", {**common, "int8": int8.key}, parity_fn,
               lambda s: s.get("summary", ""))

    def export_fn(folder: Path) -> dict:
        tfl = Path(int8.summary["int8"])
        res = recipes.export_stage(tfl, read_bundle_sidecar(tfl), folder / "firmware",
                                   profile=profile)
        return {"files": [str(p) for p in res.files.values()], "sha256": res.sha256,
                "ops": res.ops, "arena_measured": res.arena_measured,
                "arena_bytes": res.arena_bytes, "footprint": res.footprint}

    export = runner.run("export", {**common, "int8": int8.key, "hop": profile.hop}, export_fn,
                        lambda s: (f"arena {s['arena_measured']:,} B measured, "
                                   f"{s['arena_bytes']:,} B with margin, {len(s['ops'])} ops"))
    return export


def _emulate_stage(runner: StageRunner, common: dict, export: StageResult,
                   tflm_dir: Path | None) -> StageResult:
    """The exported files on the emulated board; reused while the model files are unchanged."""
    # Lazy: the emulator needs QEMU and the arm toolchain only when asked for.
    from lrh_tflm.device.emulator import emulate_export, emulate_summary

    files_dir = Path(export.folder) / "firmware"  # this build's folder, wherever it now lives
    key = {**common, "export": export.key, "tflm_dir": str(tflm_dir) if tflm_dir else None}
    return runner.run("emulate", key, lambda folder: emulate_export(files_dir, tflm_dir),
                      emulate_summary)


def install_firmware(src: Path, firmware: Path) -> list[Path]:
    """Copy the generated firmware files into a sketch folder (its ``src/`` if it has one).

    A folder that does not exist yet (or is empty) first receives the whole sketch shipped
    with the package (:func:`lrh_tflm.device.hostbuild.write_sketch`), so a build from an
    installed package produces a sketch ready to compile.  Returns the model files written.
    """
    firmware = Path(firmware)
    if not firmware.is_dir() or not any(firmware.iterdir()):
        write_sketch(firmware)
    dest = firmware / "src" if (firmware / "src").is_dir() or firmware.name == "lrh_ecg" else firmware
    written = []
    for name in FIRMWARE_FILES:
        write_bytes_atomic(dest / name, (Path(src) / name).read_bytes())
        written.append(dest / name)
    return written
