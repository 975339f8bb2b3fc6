"""TensorFlow's start-up noise is dropped, anything else it prints is kept (lrh_tflm.tfquiet)."""
import os
import subprocess
import sys

from lrh_tflm import tfquiet

NOISE_LINES = (
    "WARNING: All log messages before absl::InitializeLog() is called are written to STDERR",
    "I0000 00:00:1796130077.480757   29394 cudart_stub.cc:31] Could not find cuda drivers on "
    "your machine, GPU will not be used.",
    "E0000 00:00:1796130082.893740   29394 cuda_platform.cc:52] failed call to cuInit: "
    "INTERNAL: CUDA error: Failed call to cuInit: UNKNOWN ERROR (303)",
)


def test_captured_stderr_drops_only_the_known_noise():
    captured = tfquiet._CapturedStderr()
    try:
        for line in NOISE_LINES:
            os.write(2, (line + "\n").encode())
        os.write(2, b"E0000 00:00:1.0   1 op_kernel.cc:1] a real kernel error\nplain words\n")
    finally:
        kept = captured.release()
    assert kept == ["E0000 00:00:1.0   1 op_kernel.cc:1] a real kernel error", "plain words"]


def _python(code: str, **env) -> subprocess.CompletedProcess:
    base = {k: v for k, v in os.environ.items()
            if k not in ("TF_CPP_MIN_LOG_LEVEL", tfquiet.VERBOSE_ENV)}
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          env={**base, **env}, timeout=300)


def test_tensorflow_imports_quietly_and_keeps_its_own_loader():
    res = _python("import lrh_tflm.tfquiet as q; assert q.quiet_tensorflow()\n"
                  "import tensorflow as tf\n"
                  "assert type(tf.__spec__.loader).__name__ == 'SourceFileLoader'\n"
                  "assert tf.constant(2).numpy() == 2\n"
                  "import sys; print('after', file=sys.stderr)\n")
    assert res.returncode == 0, res.stderr
    assert res.stderr.strip() == "after"


def test_verbose_environment_keeps_tensorflows_messages():
    res = _python("import lrh_tflm.tfquiet as q; print(q.quiet_tensorflow())",
                  **{tfquiet.VERBOSE_ENV: "1"})
    assert res.stdout.strip() == "False"
    res = _python("import tensorflow, lrh_tflm.tfquiet as q; print(q.quiet_tensorflow())")
    assert res.stdout.strip() == "False"  # too late once TensorFlow is loaded
