"""The sketch compiled the way arduino-cli compiles it for the Nano 33 BLE, against the real
libraries in ../shared/third_party (Chirale_TensorFlowLite, the mbed core, ArduinoCore-API,
ArduinoBLE): `make -C firmware nano33ble`.  Skipped without the trees or the arm toolchain,
failed instead when CI=true."""
from __future__ import annotations

import os
import re
import shutil
import subprocess

import pytest

from lrh_tflm.device.hostbuild import FIRMWARE_DIR, build_lock

from conftest import SHARED_DIR, require_shared

THIRD_PARTY = SHARED_DIR / "third_party"


def _require_tool(name: str) -> None:
    if shutil.which(name) is None:
        message = f"{name} not installed (gcc-arm-none-eabi)"
        if os.environ.get("CI", "").strip().lower() == "true":
            pytest.fail(message + "; CI=true requires it")
        pytest.skip(message)


@pytest.fixture(scope="module")
def nano_build():
    for sub in ("Chirale_TensorFlowLite", "ArduinoCore-mbed", "ArduinoCore-API", "ArduinoBLE"):
        require_shared(THIRD_PARTY / sub)
    _require_tool("arm-none-eabi-g++")
    with build_lock(FIRMWARE_DIR):
        proc = subprocess.run(
            ["make", "-C", str(FIRMWARE_DIR), "-j2", "nano33ble",
             f"TFLM_DIR={THIRD_PARTY / 'Chirale_TensorFlowLite'}",
             f"CORE_DIR={THIRD_PARTY / 'ArduinoCore-mbed'}",
             f"API_DIR={THIRD_PARTY / 'ArduinoCore-API'}", f"BLE_DIR={THIRD_PARTY / 'ArduinoBLE'}"],
            capture_output=True, text=True, timeout=1800)
    return proc


def test_sketch_compiles_for_nano33ble_with_chirale(nano_build):
    out = nano_build.stdout + nano_build.stderr
    assert nano_build.returncode == 0, out[-4000:]
    # The sketch, board and core compiled with -Werror, and TFLM came from Chirale's tree.
    assert "project objects (sketch, board, src/, model; -Werror)" in out
    assert re.search(r"Chirale_TensorFlowLite objects \(\d+ files; ops: ", out)
    assert "libmbed.a (the precompiled mbed OS) is missing" in out


def test_sketch_uses_chirale_header_on_mbed():
    ino = (FIRMWARE_DIR / "lrh_ecg" / "lrh_ecg.ino").read_text()
    block = ino[ino.index("#if defined(ARDUINO_ARCH_MBED)"):]
    assert block.splitlines()[1] == "#include <Chirale_TensorFlowLite.h>"


def test_only_mbed_os_is_missing_from_the_link(nano_build):
    assert nano_build.returncode == 0, nano_build.stdout[-2000:]
    undefined = (FIRMWARE_DIR / "build" / "nano33ble" / "undefined.txt").read_text().splitlines()
    assert undefined, "a relocatable link without libmbed.a must leave mbed OS symbols undefined"
    ours = [s for s in undefined
            if re.search(r"tflite::|lrh::|^Tf|TfLite|^arm_|DebugLog|kModel|BLE(Local|Device|Service|"
                         r"Characteristic)|setup|loop|board_", s)]
    assert not ours, f"project/TFLM/BLE symbols left undefined: {ours[:10]}"
    nm = subprocess.run(["arm-none-eabi-nm", "-C", str(FIRMWARE_DIR / "build" / "nano33ble" /
                                                      "lrh_ecg.partial.o")],
                        capture_output=True, text=True, check=True).stdout
    for symbol in ("setup", "loop", "tflite::MicroInterpreter::Invoke()", "lrh::kModelData"):
        assert re.search(rf" [TDR] {re.escape(symbol)}$", nm, re.M), f"{symbol} not linked in"
