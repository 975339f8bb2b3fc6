"""Cross-compile of the portable core and the model data for the Cortex-M4F (-Werror)."""
import shutil

import pytest

from lrh_tflm.device import hostbuild as fw

pytestmark = pytest.mark.skipif(
    shutil.which("arm-none-eabi-g++") is None or shutil.which("make") is None,
    reason="arm-none-eabi-g++ not installed (Debian: gcc-arm-none-eabi libnewlib-arm-none-eabi "
           "libstdc++-arm-none-eabi-newlib; CI installs them)")


def test_arm_build_of_core_and_model(tmp_path):
    fixture = fw.FIRMWARE_DIR / "tests" / "fixture"
    sizes = fw.build_arm(fixture, fixture, tmp_path / "arm")
    core, total = sizes["core"], sizes["core_model"]
    print(f"\narm core alone: {core}\narm core + model: {total}")
    # A warning anywhere would have failed the build (-Werror), raising FirmwareError.
    assert 0 < core["text"] < 16 * 1024  # the core is small next to the model
    model_bytes = (fixture / "model_data.cc").read_text().count("0x")
    assert total["text"] - core["text"] >= model_bytes  # the model array is in flash (.rodata)
    assert total["bss"] == core["bss"] > 8 * 1024  # window buffer etc., no model in RAM
    assert total["data"] == core["data"]


@pytest.mark.skipif(shutil.which("g++") is None, reason="g++ not installed")
def test_sketch_compiles_against_tflm_declarations(tmp_path):
    fixture = fw.FIRMWARE_DIR / "tests" / "fixture"
    out = fw.check_sketch(fixture, fixture, tmp_path / "sk")
    assert "sketch compiles against the TFLM stand-in" in out
    assert "sketch compiles for cortex-m4 too" in out
