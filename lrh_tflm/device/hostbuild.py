"""Drive the firmware's host builds from Python: make, run, parse.

The portable C++ core in ``firmware/lrh_ecg/src`` is compiled with the host ``g++``
(``make -C firmware host``) into ``lrh_core_test`` (unit tests of the core) and ``lrh_host``
(the exact firmware preprocessing over recorded samples, printing every int8 window).  This
module builds them against any ``model_settings.h``, runs them and returns numpy arrays, and
also compiles the core for the Cortex-M4F (``make -C firmware arm``) and parses the sizes.
The Python side of the replay frames is :mod:`lrh_tflm.device.protocol`.

No TensorFlow here; the only external tools are ``make``, ``g++`` and, for :func:`build_arm`,
``arm-none-eabi-g++``.
"""
from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import re
import shutil
import subprocess
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterator

import numpy as np

#: The repository's firmware folder (Makefile, lrh_ecg/, host/, tests/fixture/).
FIRMWARE_DIR = Path(__file__).resolve().parents[2] / "firmware"

#: The Arduino sketch as the package ships it (``lrh_ecg.ino``, the board files, and the
#: portable core with the committed default model in ``src/``): package data, so an
#: installed wheel has it; in a checkout this is a link to ``firmware/lrh_ecg``.
SKETCH_DIR = Path(__file__).resolve().parent / "sketch"

#: What a sketch folder holds (build outputs and editor files are not copied).
SKETCH_SUFFIXES = (".ino", ".cpp", ".cc", ".h", ".json")


class FirmwareError(RuntimeError):
    """A firmware build or host run failed; the message carries the tool's output."""


@dataclass(frozen=True)
class HostBuild:
    """Paths of one host build (one ``model_settings.h``)."""

    build_dir: Path
    settings_dir: Path
    core_test: Path
    host: Path


@dataclass
class HostWindows:
    """What ``lrh_host`` printed.

    Attributes
    ----------
    starts
        ``(n,)`` stream index of each window's first sample.
    windows
        ``(n, window, leads)`` int8, the model input tensor of each window.
    lead_off, saturated
        ``(n,)`` per-window bitmasks (bit i = lead i).
    summary
        The final ``S`` line as a dict of ints (samples, windows, overruns, frame counters).
    """

    starts: np.ndarray
    windows: np.ndarray
    lead_off: np.ndarray
    saturated: np.ndarray
    summary: dict = field(default_factory=dict)


def have_tool(name: str) -> bool:
    """True when ``name`` is on ``PATH``."""
    return shutil.which(name) is not None


@contextlib.contextmanager
def build_lock(firmware_dir: Path) -> Iterator[None]:
    """Hold ``firmware_dir/build/.lock`` while one process runs make there.

    Builds share objects (the TFLM archives under ``build/tflm/`` serve every model with the
    same ops), so two processes (two test workers, two exports) take turns instead of
    compiling the same files at once.
    """
    if not Path(firmware_dir).is_dir():  # make itself says what is missing
        yield
        return
    lock = Path(firmware_dir) / "build" / ".lock"
    lock.parent.mkdir(parents=True, exist_ok=True)
    with open(lock, "a") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


def _make(args: list[str], firmware_dir: Path, timeout: float) -> str:
    if not have_tool("make"):
        raise FirmwareError("`make` is not installed; it is needed to build the firmware")
    with build_lock(firmware_dir):
        proc = subprocess.run(["make", "-s", "-C", str(firmware_dir), *args],
                              capture_output=True, text=True, timeout=timeout)
    out = proc.stdout + proc.stderr
    if proc.returncode != 0:
        raise FirmwareError(f"make {' '.join(args)} failed (exit {proc.returncode}):\n{out}")
    return out


def _settings_key(settings_dir: Path) -> str:
    """Build folders are keyed by the settings content so different models never share objects."""
    text = (Path(settings_dir) / "model_settings.h").read_bytes()
    return hashlib.sha256(str(Path(settings_dir).resolve()).encode() + text).hexdigest()[:12]


def default_settings_dir(firmware_dir: Path = FIRMWARE_DIR) -> Path:
    """The generated ``lrh_ecg/src/model_settings.h`` when present, else the test fixture;
    without a firmware folder (an installed package), the shipped sketch's settings."""
    firmware_dir = Path(firmware_dir)
    if not firmware_dir.is_dir():
        return SKETCH_DIR / "src"
    src = firmware_dir / "lrh_ecg" / "src"
    return src if (src / "model_settings.h").is_file() else firmware_dir / "tests" / "fixture"


def write_sketch(dest: Path, sketch_dir: Path = SKETCH_DIR) -> list[Path]:
    """Copy the sketch into ``dest`` (created), its ``.ino`` named after ``dest`` as the
    Arduino tools require; returns the files written.

    Raises
    ------
    FirmwareError
        If ``sketch_dir`` holds no sketch (a package installed without its data).
    """
    sketch_dir, dest = Path(sketch_dir), Path(dest)
    files = sorted(p for p in sketch_dir.rglob("*") if p.is_file() and p.suffix in SKETCH_SUFFIXES)
    if not any(p.suffix == ".ino" for p in files):
        raise FirmwareError(f"no Arduino sketch in {sketch_dir}")
    written = []
    for path in files:
        rel = path.relative_to(sketch_dir)
        target = dest / (f"{dest.name}.ino" if path.suffix == ".ino" else rel)
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(path, target)
        written.append(target)
    return written


def build_host(settings_dir: Path | None = None, build_dir: Path | None = None, *,
               firmware_dir: Path = FIRMWARE_DIR, timeout: float = 300) -> HostBuild:
    """Build ``lrh_core_test`` and ``lrh_host`` with g++ against one ``model_settings.h``.

    Parameters
    ----------
    settings_dir
        Folder holding ``model_settings.h`` (default :func:`default_settings_dir`).
    build_dir
        Output folder (default ``firmware/build/host-<key>``, keyed by the settings).
    firmware_dir
        The firmware folder with the Makefile.
    timeout
        Seconds allowed for make.

    Returns
    -------
    HostBuild

    Raises
    ------
    FirmwareError
        If g++/make are missing, the settings header is missing, or compilation fails.
    """
    firmware_dir = Path(firmware_dir)
    settings_dir = Path(settings_dir) if settings_dir else default_settings_dir(firmware_dir)
    if not (settings_dir / "model_settings.h").is_file():
        raise FirmwareError(f"no model_settings.h in {settings_dir}")
    if not have_tool("g++"):
        raise FirmwareError("g++ is not installed; the host firmware build needs it")
    build_dir = Path(build_dir) if build_dir else firmware_dir / "build" / f"host-{_settings_key(settings_dir)}"
    _make(["host", f"SETTINGS_DIR={settings_dir.resolve()}", f"BUILD_DIR={build_dir.resolve()}"],
          firmware_dir, timeout)
    return HostBuild(build_dir=build_dir, settings_dir=settings_dir,
                     core_test=build_dir / "lrh_core_test", host=build_dir / "lrh_host")


def run_core_tests(build: HostBuild, timeout: float = 60) -> str:
    """Run ``lrh_core_test``; return its output.

    Raises
    ------
    FirmwareError
        If any check failed (the output lists each failed check).
    """
    proc = subprocess.run([str(build.core_test)], capture_output=True, text=True, timeout=timeout)
    out = proc.stdout + proc.stderr
    if proc.returncode != 0:
        raise FirmwareError(f"firmware core tests failed (exit {proc.returncode}):\n{out}")
    return out


_SUMMARY = re.compile(r"(\w+)=(\d+)")


def parse_host_output(text: str, window: int, n_leads: int) -> HostWindows:
    """Parse ``lrh_host`` output (``W`` lines and the ``S`` summary line).

    Raises
    ------
    FirmwareError
        If a window line has the wrong number of values or the summary is missing.
    """
    starts, lo, sat, wins = [], [], [], []
    summary = None
    for n, line in enumerate(text.splitlines(), 1):
        if line.startswith("W "):
            parts = line.split()
            values = np.array(parts[4:], dtype=np.int16)
            if values.size != window * n_leads:
                raise FirmwareError(f"lrh_host output line {n}: {values.size} values, expected "
                                    f"{window} × {n_leads}")
            starts.append(int(parts[1]))
            lo.append(int(parts[2]))
            sat.append(int(parts[3]))
            wins.append(values.astype(np.int8).reshape(window, n_leads))
        elif line.startswith("S "):
            summary = {k: int(v) for k, v in _SUMMARY.findall(line)}
    if summary is None:
        raise FirmwareError("lrh_host printed no summary line (did it crash?)")
    shape = (len(wins), window, n_leads)
    return HostWindows(starts=np.array(starts, dtype=np.int64),
                       windows=np.stack(wins) if wins else np.zeros(shape, np.int8),
                       lead_off=np.array(lo, dtype=np.uint8), saturated=np.array(sat, dtype=np.uint8),
                       summary=summary)


def settings_value(settings_dir: Path, name: str) -> str:
    """The right-hand side of ``constexpr ... <name>[dims] = <value>;`` in ``model_settings.h``.

    The one parser of the generated header: :class:`DeviceSettings`, the host runs and the
    tests all read it through here.

    Raises
    ------
    FirmwareError
        If the header has no such constant.
    """
    text = (Path(settings_dir) / "model_settings.h").read_text()
    # Arrays carry their dimensions before the '=' (kLeadNames[kNumLeads] = {...}).
    m = re.search(rf"\b{re.escape(name)}(?:\[[^\]]*\])*\s*=\s*([^;]+);", text)
    if not m:
        raise FirmwareError(f"{name} not found in {settings_dir}/model_settings.h")
    return m.group(1).strip()


def _parse_array(text: str) -> list[str]:
    inner = text.strip()
    if not (inner.startswith("{") and inner.endswith("}")):
        raise FirmwareError(f"expected a C array, got {text[:60]!r}")
    return [v.strip() for v in inner[1:-1].split(",") if v.strip()]


@dataclass(frozen=True)
class DeviceSettings:
    """What the firmware knows about its model, read from ``model_settings.h``."""

    fs: float
    window: int
    hop: int
    leads: tuple[str, ...]
    classes: tuple[str, ...]
    thresholds: tuple[float, ...]
    output_scale: float
    output_zero_point: int
    demographics_default: tuple[float, ...]
    has_demographics: bool
    arena_bytes: int
    smooth: tuple[int, int]

    @classmethod
    def from_header(cls, settings_dir: Path) -> "DeviceSettings":
        """Parse the generated ``model_settings.h`` in ``settings_dir``.

        Raises
        ------
        FirmwareError
            If a constant is missing or malformed.
        """
        def val(name):
            return settings_value(settings_dir, name)

        def num(name):
            return float(val(name).rstrip("f"))

        def floats(name):
            return tuple(float(v.rstrip("f")) for v in _parse_array(val(name)))

        def strings(name):
            return tuple(json.loads(s) for s in _parse_array(val(name)))

        return cls(fs=num("kSampleRateHz"), window=int(val("kWindowSamples")),
                   hop=int(val("kHopSamples")), leads=strings("kLeadNames"),
                   classes=strings("kClassAbbrev"), thresholds=floats("kThresholds"),
                   output_scale=num("kOutputScale"), output_zero_point=int(val("kOutputZeroPoint")),
                   demographics_default=floats("kDemographicsDefault"),
                   has_demographics=val("kHasDemographics") == "true",
                   arena_bytes=int(val("kArenaBytes")),
                   smooth=(int(val("kSmoothK")), int(val("kSmoothN"))))


def _shape(build: HostBuild) -> tuple[int, int]:
    return (int(settings_value(build.settings_dir, "kWindowSamples")),
            int(settings_value(build.settings_dir, "kNumLeads")))


def run_host(build: HostBuild, samples: np.ndarray, *, hop: int | None = None,
             counts: bool = False, timeout: float = 120) -> HostWindows:
    """Run the firmware preprocessing over a time-major signal.

    Parameters
    ----------
    build
        From :func:`build_host`.
    samples
        ``(n, leads)``: millivolts at the model rate (or ADC counts with ``counts=True``).
    hop
        Hop between windows (default the header's ``kHopSamples``).
    counts
        Treat ``samples`` as ADC counts (converted with ``frontend_config.h``).

    Returns
    -------
    HostWindows

    Raises
    ------
    FirmwareError
        For a wrong lead count, non-finite samples, or a failing ``lrh_host``.
    """
    window, n_leads = _shape(build)
    x = np.asarray(samples)
    if x.ndim != 2 or x.shape[1] != n_leads:
        raise FirmwareError(f"samples must be (n, {n_leads}), got {x.shape}")
    if not np.all(np.isfinite(x)):
        raise FirmwareError("samples contain NaN or inf")
    fmt = "%d" if counts else "%.9g"
    # float32 values printed with 9 significant digits round-trip exactly through strtod.
    data = x.astype(np.int64 if counts else np.float32)
    text = "\n".join(" ".join(fmt % v for v in row) for row in data.tolist()) + "\n"
    args = [str(build.host)] + (["--counts"] if counts else []) + (["--hop", str(hop)] if hop else [])
    return _run(args, text.encode(), window, n_leads, timeout)


def run_host_frames(build: HostBuild, stream: bytes, *, hop: int | None = None,
                    timeout: float = 120) -> HostWindows:
    """Feed raw replay frames (as the board's serial port would receive them) to ``lrh_host``."""
    window, n_leads = _shape(build)
    args = [str(build.host), "--frames"] + (["--hop", str(hop)] if hop else [])
    return _run(args, bytes(stream), window, n_leads, timeout)


def _run(args: list[str], stdin: bytes, window: int, n_leads: int, timeout: float) -> HostWindows:
    proc = subprocess.run(args, input=stdin, capture_output=True, timeout=timeout)
    if proc.returncode != 0:
        raise FirmwareError(f"lrh_host failed (exit {proc.returncode}): "
                            f"{proc.stderr.decode(errors='replace').strip()}")
    return parse_host_output(proc.stdout.decode(), window, n_leads)


# ------------------------------------------------------------------------------ arm build


def check_sketch(settings_dir: Path | None = None, model_dir: Path | None = None,
                 build_dir: Path | None = None, *, firmware_dir: Path = FIRMWARE_DIR,
                 timeout: float = 300) -> str:
    """Compile ``lrh_ecg.ino`` (no link) against the declarations-only TFLM stand-in.

    Uses the host g++ and, when installed, ``arm-none-eabi-g++`` as well; returns make's output.

    Raises
    ------
    FirmwareError
        If g++ is missing or the sketch does not compile (``-Werror``).
    """
    firmware_dir = Path(firmware_dir)
    if not have_tool("g++"):
        raise FirmwareError("g++ is not installed; the sketch check needs it")
    settings_dir = Path(settings_dir) if settings_dir else default_settings_dir(firmware_dir)
    model_dir = Path(model_dir) if model_dir else settings_dir
    build_dir = Path(build_dir) if build_dir else firmware_dir / "build" / f"host-{_settings_key(settings_dir)}"
    return _make(["sketch-check", f"SETTINGS_DIR={settings_dir.resolve()}",
                  f"MODEL_DIR={model_dir.resolve()}", f"BUILD_DIR={build_dir.resolve()}"],
                 firmware_dir, timeout)


_SIZE_ROW = re.compile(r"^\s*(\d+)\s+(\d+)\s+(\d+)\s+(\d+)\s+[0-9a-f]+\s+\(TOTALS\)", re.M)


def build_arm(settings_dir: Path | None = None, model_dir: Path | None = None,
              build_dir: Path | None = None, *, firmware_dir: Path = FIRMWARE_DIR,
              timeout: float = 300) -> dict:
    """Compile the core (and ``model_data.cc``) for the Cortex-M4F and return the sizes.

    Returns
    -------
    dict
        ``{"core": {"text", "data", "bss"}, "core_model": {...} or None, "output": str}``.

    Raises
    ------
    FirmwareError
        If ``arm-none-eabi-g++`` is missing or the build fails (``-Werror``).
    """
    firmware_dir = Path(firmware_dir)
    if not have_tool("arm-none-eabi-g++"):
        raise FirmwareError("arm-none-eabi-g++ is not installed (Debian: gcc-arm-none-eabi "
                            "libnewlib-arm-none-eabi libstdc++-arm-none-eabi-newlib)")
    settings_dir = Path(settings_dir) if settings_dir else default_settings_dir(firmware_dir)
    model_dir = Path(model_dir) if model_dir else settings_dir
    build_dir = Path(build_dir) if build_dir else firmware_dir / "build" / f"arm-{_settings_key(settings_dir)}"
    out = _make(["arm", f"SETTINGS_DIR={settings_dir.resolve()}", f"MODEL_DIR={model_dir.resolve()}",
                 f"ARM_BUILD_DIR={build_dir.resolve()}"], firmware_dir, timeout)
    totals = [dict(zip(("text", "data", "bss"), map(int, m.groups()[:3])))
              for m in _SIZE_ROW.finditer(out)]
    if not totals:
        raise FirmwareError(f"no arm-none-eabi-size totals in the build output:\n{out}")
    return {"core": totals[0], "core_model": totals[1] if len(totals) > 1 else None, "output": out}


__all__ = ["FIRMWARE_DIR", "SKETCH_DIR", "write_sketch", "FirmwareError", "HostBuild", "HostWindows", "DeviceSettings",
           "have_tool", "build_lock", "default_settings_dir", "build_host", "run_core_tests",
           "parse_host_output", "settings_value", "run_host", "run_host_frames", "check_sketch",
           "build_arm"]
