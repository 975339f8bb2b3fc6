"""lrh-tflm: LRH-Net multi-level knowledge distillation, from paper to microcontroller.

Importing the package sets ``TF_USE_LEGACY_KERAS=1`` (unless the caller already chose)
before TensorFlow is imported anywhere in the package: the quantisation-aware training
library (tensorflow-model-optimization) only works with Keras 2 (``tf_keras``).  Python runs
this file before any module of the package, so no module repeats it; scripts and tests that
import TensorFlow themselves import ``lrh_tflm`` first.
"""
import os as _os

_os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")
# TensorFlow's C++ start-up chatter hides the messages users need; errors still show.
_os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

__version__ = "0.1.0"

__all__ = ["__version__"]
