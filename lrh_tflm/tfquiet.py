"""TensorFlow's start-up chatter, kept off the user's screen.

Importing TensorFlow 2.21 on a CPU-only machine writes, straight to file descriptor 2 and
before any logging setting applies (``TF_CPP_MIN_LOG_LEVEL`` does not reach them):

    WARNING: All log messages before absl::InitializeLog() is called are written to STDERR
    I0000 … cudart_stub.cc:31] Could not find cuda drivers on your machine, GPU will not be used.

and its first device query adds ``E0000 … cuda_platform.cc:52] failed call to cuInit: …``.
An ``E``-level CUDA error on a laptop without a GPU reads as a failure.

:func:`quiet_tensorflow` installs an import hook: the first ``import tensorflow`` (wherever
it happens) and TensorFlow's device initialisation run with descriptor 2 captured; the lines
that are known start-up noise (:data:`NOISE`) are dropped and everything else is written
back to stderr in order, so a real error still shows.  TensorFlow's Python logger and absl's
are set to errors only.  The CLI calls it unless ``lrh-tflm --verbose`` or
``LRH_TFLM_VERBOSE=1``; library users opt in by calling it themselves.
"""
from __future__ import annotations

import importlib.abc
import importlib.machinery
import os
import re
import sys
import tempfile

#: Environment variable that keeps TensorFlow's start-up messages (any value but "", "0").
VERBOSE_ENV = "LRH_TFLM_VERBOSE"

#: Lines of TensorFlow's start-up that say nothing a user can act on: absl's pre-init notice
#: and the C++ log lines of the CUDA probe, the CPU-feature notice and oneDNN's notice.
NOISE = re.compile(
    r"^(WARNING: All log messages before absl::InitializeLog\(\) is called are written to STDERR"
    r"|[IWE]\d{4} [\d:. ]+\d+ (cudart_stub|cuda_platform|cuda_executor|cuda_diagnostics"
    r"|cuda_dnn|cuda_fft|cuda_blas|cpu_feature_guard|port|gpu_device|cpu_allocator_impl)"
    r"\.cc:\d+\] .*"
    r"|To enable the following instructions: .* in other operations, rebuild TensorFlow .*)$")


def verbose_requested() -> bool:
    """True when ``LRH_TFLM_VERBOSE`` asks for TensorFlow's own messages."""
    return os.environ.get(VERBOSE_ENV, "").strip() not in ("", "0")


class _CapturedStderr:
    """File descriptor 2 redirected to a temporary file until :meth:`release`."""

    def __init__(self):
        sys.stderr.flush()
        self._saved = os.dup(2)
        self._file = tempfile.TemporaryFile(mode="w+b")
        os.dup2(self._file.fileno(), 2)

    def release(self) -> list[str]:
        """Restore descriptor 2; the captured lines that are not :data:`NOISE`."""
        sys.stderr.flush()
        os.dup2(self._saved, 2)
        os.close(self._saved)
        self._file.seek(0)
        text = self._file.read().decode("utf-8", "replace")
        self._file.close()
        return [line for line in text.splitlines() if line.strip() and not NOISE.match(line)]


class _QuietLoader(importlib.abc.Loader):
    """TensorFlow's own loader, run with descriptor 2 captured, then its device probe."""

    def __init__(self, real: importlib.abc.Loader):
        self.real = real

    def create_module(self, spec):
        return self.real.create_module(spec)

    def exec_module(self, module) -> None:
        # The module keeps its real loader: nothing after the import sees this wrapper.
        module.__spec__.loader = module.__loader__ = self.real
        captured = _CapturedStderr()
        try:
            self.real.exec_module(module)
            module.get_logger().setLevel("ERROR")
            module.config.list_physical_devices()  # the CUDA probe, while captured
            try:
                from absl import logging as absl_logging

                absl_logging.set_verbosity(absl_logging.ERROR)
            except ImportError:  # absl comes with TensorFlow; never fatal without it
                pass
        finally:
            for line in captured.release():
                print(line, file=sys.stderr)


class _QuietFinder(importlib.abc.MetaPathFinder):
    """Finds ``tensorflow`` as the path finder does, and wraps its loader once."""

    def find_spec(self, name, path=None, target=None):
        if name != "tensorflow":
            return None
        uninstall()  # one shot
        spec = importlib.machinery.PathFinder.find_spec(name, path, target)
        if spec is None or spec.loader is None:
            return spec
        spec.loader = _QuietLoader(spec.loader)
        return spec


def quiet_tensorflow() -> bool:
    """Silence TensorFlow's start-up noise for this process (see the module docstring).

    Returns
    -------
    bool
        False when it cannot apply: TensorFlow is already imported, or ``LRH_TFLM_VERBOSE``
        is set.
    """
    if "tensorflow" in sys.modules or verbose_requested():
        return False
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    if not any(isinstance(f, _QuietFinder) for f in sys.meta_path):
        sys.meta_path.insert(0, _QuietFinder())
    return True


def uninstall() -> None:
    """Remove the hook (TensorFlow then prints what it prints)."""
    sys.meta_path[:] = [f for f in sys.meta_path if not isinstance(f, _QuietFinder)]


__all__ = ["NOISE", "VERBOSE_ENV", "quiet_tensorflow", "uninstall", "verbose_requested"]
