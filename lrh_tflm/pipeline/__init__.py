"""The pipeline layer: resumable stages, the stage recipes, the build and its report.

==============  ==================================================================
module          contract
==============  ==================================================================
``stages``      a stage = a folder + ``stage.json``; reused when its key is unchanged
``recipes``     QAT fine-tuning and int8 conversion as stage recipes returning results
``build``       ``lrh-tflm build``: every stage, in order, walking the KD schedule once
``report``      ``report.md``, figures, ``model_card.json``, ``benchmark.json``
==============  ==================================================================

Importing this package imports TensorFlow (the recipes train); the CLI imports it inside
its commands only.
"""
from lrh_tflm.pipeline.build import (
                                     KD_SCHEMES,
                                     STUDENTS,
                                     BuildOptions,
                                     BuildResult,
                                     build,
                                     install_firmware,
                                     resolve_profile,
)
from lrh_tflm.pipeline.recipes import QATResult, int8_stage, median_latency_ms, qat_stage
from lrh_tflm.pipeline.report import make_build_report, write_report
from lrh_tflm.pipeline.stages import StageResult, StageRunner

__all__ = ["KD_SCHEMES", "STUDENTS", "BuildOptions", "BuildResult", "build", "install_firmware",
           "resolve_profile", "QATResult", "int8_stage", "median_latency_ms", "qat_stage",
           "make_build_report", "write_report", "StageResult", "StageRunner"]
