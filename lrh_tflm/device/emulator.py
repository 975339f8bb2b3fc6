"""The firmware on an emulated Cortex-M4F: the sketch + a real TFLM on QEMU's ``mps2-an386``.

``make -C firmware qemu TFLM_DIR=…`` links ``lrh_ecg.ino``, ``board_qemu.cpp``, ``src/`` and the
generated model with TFLM (stand-alone tree with CMSIS-NN or reference kernels, or the
Chirale_TensorFlowLite library) into an ELF; :func:`run_elf` runs it under
``qemu-system-arm -M mps2-an386 -nographic -semihosting -icount shift=0`` with replay frames as
its serial input (``lrh_serial.bin``) and/or ADC counts played by a timer interrupt at the
model rate (``lrh_adc.bin``), and parses what the board printed: its hello and window lines
(what a real board prints), the emulator build's trace lines (raw int8 outputs, instructions
per operator, receiver counters), dropped-sample runs and the exit line.

:func:`compare_with_host` checks the board against the host: the same bytes through the
firmware's own C++ preprocessing compiled for the host (``lrh_host``) give the int8 windows,
the TFLM host runtime (``tflite-micro`` wheel) gives their outputs, and every window's int8
outputs and decisions are compared with the board's.

Instruction counts are exact (the CMSDK timer ticks once per 40 instructions under
``-icount shift=0``); the board's microseconds assume :data:`BOARD_HZ` instructions per second
(one instruction per cycle at 64 MHz, the Nano 33 BLE's best case).
"""
from __future__ import annotations

import hashlib
import json
import re
import subprocess
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Sequence

import numpy as np

from lrh_tflm.config import SynthConfig
from lrh_tflm.data.synthetic import simulate
from lrh_tflm.device.codegen import parse_c_array
from lrh_tflm.device.hostbuild import (
    FIRMWARE_DIR,
    DeviceSettings,
    FirmwareError,
    HostBuild,
    build_host,
    build_lock,
    have_tool,
    run_host,
    run_host_frames,
    settings_value,
)
from lrh_tflm.device.protocol import decide, encode_sample_frames
from lrh_tflm.io import read_json, write_json_atomic
from lrh_tflm.leads import LEADS
from lrh_tflm.tflite.runtime import make_runner

#: Where the project keeps the third-party trees (``../shared/third_party`` from the repo).
THIRD_PARTY_DIR = FIRMWARE_DIR.parent.parent / "shared" / "third_party"
#: TFLM flavour → folder under :data:`THIRD_PARTY_DIR`.
FLAVOURS = {"cmsis-nn": "tflm-cmsis-nn", "reference": "tflm-reference",
            "chirale": "Chirale_TensorFlowLite"}
#: The modelled board clock (instructions per second) of the emulator build.
BOARD_HZ = 64_000_000
#: Cycles per instruction assumed for a Cortex-M4 at 64 MHz running from flash (nRF52840: flash
#: behind an instruction cache) to turn measured instructions into time.  1.0 is the floor
#: (every instruction single-cycle, no wait state); loads/stores take 2 cycles unless
#: pipelined, taken branches 2-4, cache misses add flash wait states, so int8 kernel code lands
#: in between; 2.0 is a pessimistic ceiling.  An assumption until measured on a board (DWT).
CPI_RANGE = (1.0, 2.0)
QEMU = "qemu-system-arm"
QEMU_ARGS = ("-M", "mps2-an386", "-nographic", "-semihosting", "-icount", "shift=0")


class EmulatorError(RuntimeError):
    """The emulator build or run failed (message says why)."""


def have_emulator() -> bool:
    """True when ``qemu-system-arm`` and the arm toolchain are installed."""
    return have_tool(QEMU) and have_tool("arm-none-eabi-g++")


def flavour_dir(flavour: str, third_party: Path = THIRD_PARTY_DIR) -> Path:
    """The TFLM tree of one flavour (``cmsis-nn``, ``reference``, ``chirale``)."""
    if flavour not in FLAVOURS:
        raise ValueError(f"unknown TFLM flavour {flavour!r}; choose one of {', '.join(FLAVOURS)}")
    return Path(third_party) / FLAVOURS[flavour]


@dataclass(frozen=True)
class EmulatorBuild:
    """One linked firmware ELF.

    Attributes
    ----------
    elf, map_file
        The ELF and its linker map.
    flavour
        Name of the TFLM tree it links.
    settings_dir, model_dir
        The generated model files it was built from.
    log
        make's output.
    """

    elf: Path
    map_file: Path
    flavour: str
    settings_dir: Path
    model_dir: Path
    log: str = ""


def build_elf(tflm_dir: Path, *, settings_dir: Path | None = None, model_dir: Path | None = None,
              build_dir: Path | None = None, name: str | None = None, board_hz: int = BOARD_HZ,
              opt: str = "-Os", firmware_dir: Path = FIRMWARE_DIR, jobs: int = 2,
              timeout: float = 1800) -> EmulatorBuild:
    """``make -C firmware qemu``: the sketch, the model files and TFLM as an mps2-an386 ELF.

    The TFLM library is cached per tree and op set under ``firmware/build/tflm/`` (mk/qemu.mk),
    so only the first build of a tree compiles it.  ``opt`` is the optimisation of TFLM and the
    sketch (``-Os``: what the Arduino core compiles with).

    Raises
    ------
    EmulatorError
        When the toolchain or the tree is missing, or compiling/linking fails.
    """
    firmware_dir = Path(firmware_dir)
    src = firmware_dir / "lrh_ecg" / "src"
    settings_dir = Path(settings_dir) if settings_dir else src
    model_dir = Path(model_dir) if model_dir else settings_dir
    if not have_tool("arm-none-eabi-g++"):
        raise EmulatorError("arm-none-eabi-g++ is not installed (gcc-arm-none-eabi)")
    if not Path(tflm_dir).is_dir():
        raise EmulatorError(f"no TFLM tree at {tflm_dir}")
    name = name or Path(tflm_dir).name
    key = _files_key(settings_dir, model_dir)
    suffix = "" if opt == "-Os" else opt
    build_dir = Path(build_dir) if build_dir else \
        firmware_dir / "build" / "qemu" / f"{name}{suffix}-{key}"
    args = ["make", "-C", str(firmware_dir), f"-j{jobs}", "qemu", f"TFLM_DIR={Path(tflm_dir).resolve()}",
            f"QEMU_NAME={name}", f"QEMU_BUILD={build_dir.resolve()}", f"QEMU_HZ={board_hz}",
            f"QEMU_OPT={opt}",
            f"SETTINGS_DIR={settings_dir.resolve()}", f"MODEL_DIR={model_dir.resolve()}"]
    with build_lock(firmware_dir):
        proc = subprocess.run(args, capture_output=True, text=True, timeout=timeout)
    log = proc.stdout + proc.stderr
    if proc.returncode != 0:
        raise EmulatorError(f"make qemu ({name}) failed (exit {proc.returncode}):\n{log[-4000:]}")
    return EmulatorBuild(elf=build_dir / "lrh_ecg.elf", map_file=build_dir / "lrh_ecg.map",
                         flavour=name, settings_dir=settings_dir, model_dir=model_dir, log=log)


def _files_key(settings_dir: Path, model_dir: Path) -> str:
    h = hashlib.sha256()
    for path in (Path(settings_dir) / "model_settings.h", Path(model_dir) / "model_data.h",
                 Path(model_dir) / "model_ops.h"):
        h.update(path.read_bytes())
    return h.hexdigest()[:10]


@dataclass
class EmulatorRun:
    """What the emulated board printed during one run.

    Attributes
    ----------
    hello
        The start-up line.
    windows
        Window lines (dicts, as a real board prints them).
    traces
        The emulator build's trace lines, one per window (``start``, ``q``, ``ops``, ``frames``…).
    drops
        ``(first_row, count)`` runs of ADC rows the ring could not take (overruns).
    exit
        The exit line (``kilo_instructions`` since start-up, ``adc_rows``, ``dropped``),
        ``None`` if it never came.
    errors
        ``{"error": …}`` messages and fault lines.
    other
        Any other output (TFLM log messages).
    returncode, wall_s
        QEMU's exit status and the host seconds the run took.
    """

    hello: dict | None = None
    windows: list = field(default_factory=list)
    traces: list = field(default_factory=list)
    drops: list = field(default_factory=list)
    exit: dict | None = None
    errors: list = field(default_factory=list)
    other: list = field(default_factory=list)
    returncode: int = 0
    wall_s: float = 0.0

    @property
    def insns_per_inference(self) -> list[int]:
        """Instructions per Invoke() (from the board's microseconds at :data:`BOARD_HZ`)."""
        return [int(t["infer_us"]) * (BOARD_HZ // 1_000_000) for t in self.traces]


def parse_output(text: str) -> EmulatorRun:
    """Sort the emulated board's output lines (see :class:`EmulatorRun`)."""
    run = EmulatorRun()
    for line in text.splitlines():
        s = line.strip()
        if not s:
            continue
        try:
            obj = json.loads(s)
        except json.JSONDecodeError:
            run.other.append(s)
            continue
        if not isinstance(obj, dict):
            run.other.append(s)
        elif "hello" in obj:
            run.hello = obj
        elif "trace" in obj:
            run.traces.append(obj["trace"])
        elif "qemu_drop" in obj:
            run.drops.append(tuple(obj["qemu_drop"]))
        elif "qemu_exit" in obj:
            run.exit = obj["qemu_exit"]
        elif "error" in obj or "qemu_fault" in obj:
            run.errors.append(obj.get("error", obj.get("qemu_fault")))
        elif "start" in obj and "raw_mask" in obj:
            run.windows.append(obj)
        else:
            run.other.append(s)
    return run


def run_elf(elf: Path, *, serial: bytes = b"", adc_counts: np.ndarray | None = None,
            timeout: float = 600) -> EmulatorRun:
    """Run the firmware ELF under QEMU until it has consumed its inputs.

    Parameters
    ----------
    elf
        From :func:`build_elf`.
    serial
        Bytes arriving on the serial port (replay frames, PROTOCOL.md).
    adc_counts
        ``(n, leads)`` ADC counts sampled by the board's timer at the model rate (live mode);
        ``None`` for no ADC input.
    timeout
        Host seconds allowed.

    Raises
    ------
    EmulatorError
        When QEMU is missing, times out, or the board never reports its exit.
    """
    if not have_tool(QEMU):
        raise EmulatorError(f"{QEMU} is not installed (apt-get install qemu-system-arm)")
    with tempfile.TemporaryDirectory(prefix="lrh-qemu-") as tmp:
        work = Path(tmp)
        if serial:
            (work / "lrh_serial.bin").write_bytes(bytes(serial))
        if adc_counts is not None:
            (work / "lrh_adc.bin").write_bytes(np.asarray(adc_counts, "<i2").tobytes())
        t0 = time.perf_counter()
        try:
            proc = subprocess.run([QEMU, *QEMU_ARGS, "-kernel", str(Path(elf).resolve())],
                                  cwd=work, stdin=subprocess.DEVNULL, capture_output=True,
                                  timeout=timeout)
        except subprocess.TimeoutExpired as err:
            partial = parse_output((err.stdout or b"").decode(errors="replace"))
            raise EmulatorError(f"QEMU ran past {timeout:.0f} s; board said {len(partial.windows)} "
                                f"window(s), errors {partial.errors[:3]}") from None
        wall = time.perf_counter() - t0
    run = parse_output(proc.stdout.decode(errors="replace"))
    run.returncode, run.wall_s = proc.returncode, wall
    if run.exit is None or proc.returncode != 0:
        raise EmulatorError(f"the emulated board did not finish cleanly (exit {proc.returncode}); "
                            f"errors {run.errors[:3]}, stderr "
                            f"{proc.stderr.decode(errors='replace')[-500:]!r}")
    return run


# ------------------------------------------------------------------------------- host side


def model_bytes(model_dir: Path) -> bytes:
    """The flatbuffer embedded in a generated ``model_data.cc``."""
    return parse_c_array((Path(model_dir) / "model_data.cc").read_text())


def host_outputs(tflite_bytes: bytes, windows_q: np.ndarray, settings_dir: Path) -> np.ndarray:
    """The TFLM host runtime's int8 outputs ``(n, classes)`` for int8 input windows.

    The demographics input (if any) gets the firmware's default vector, quantised as the
    sketch does (``kDemographicsDefault`` with the tensor's own scale and zero point).
    """
    settings = DeviceSettings.from_header(settings_dir)
    runner = make_runner(tflite_bytes, "tflm", arena_size=settings.arena_bytes)
    demo = runner.quantize_demo(np.asarray(settings.demographics_default, np.float32)[None]) \
        if runner.demo is not None else None
    out = [np.asarray(runner.run(w, demo)).reshape(-1) for w in np.asarray(windows_q)]
    return np.stack(out).astype(np.int8) if out else np.zeros((0, len(settings.classes)), np.int8)


@dataclass
class Comparison:
    """Board vs host, window by window.

    Attributes
    ----------
    starts
        Window starts compared (present on both sides).
    identical
        Windows whose int8 outputs are equal on every class.
    differences
        ``(start, class, board - host in LSB)`` for every differing output.
    decisions_agree
        Windows whose raw decision masks are equal.
    decision_differences
        ``(start, class, board q, host q, threshold crossed)`` for every class decided on one
        side only; ``threshold crossed`` is True when the two int8 outputs lie on either side of
        the class's threshold (the disagreement is the output difference, nothing else).
    missing_on_board, missing_on_host
        Window starts one side has and the other lacks.
    frames_board, frames_host
        Receiver counters: the board's last trace line and ``lrh_host``'s summary.
    """

    starts: list = field(default_factory=list)
    identical: int = 0
    differences: list = field(default_factory=list)
    decisions_agree: int = 0
    decision_differences: list = field(default_factory=list)
    missing_on_board: list = field(default_factory=list)
    missing_on_host: list = field(default_factory=list)
    frames_board: dict = field(default_factory=dict)
    frames_host: dict = field(default_factory=dict)

    @property
    def compared(self) -> int:
        return len(self.starts)

    def summary(self) -> dict:
        return {"windows_compared": self.compared, "identical": self.identical,
                "decisions_agree": self.decisions_agree,
                "max_lsb": max((abs(d[2]) for d in self.differences), default=0),
                "differences": [list(d) for d in self.differences],
                "decision_differences": [list(d) for d in self.decision_differences],
                "missing_on_board": self.missing_on_board, "missing_on_host": self.missing_on_host}


def compare_outputs(run: EmulatorRun, host_starts: Sequence[int], host_q: np.ndarray,
                    settings_dir: Path) -> Comparison:
    """Pair board and host windows by start and compare int8 outputs and raw decisions."""
    settings = DeviceSettings.from_header(settings_dir)
    board_q = {int(t["start"]): np.asarray(t["q"], np.int16) for t in run.traces}
    board_mask = {int(w["start"]): int(w["raw_mask"]) for w in run.windows}
    host = {int(s): np.asarray(q, np.int16) for s, q in zip(host_starts, host_q)}
    cmp = Comparison(missing_on_board=sorted(set(host) - set(board_q)),
                     missing_on_host=sorted(set(board_q) - set(host)))
    for start in sorted(set(board_q) & set(host)):
        b, h = board_q[start], host[start]
        cmp.starts.append(start)
        diff = b - h
        if not diff.any():
            cmp.identical += 1
        cmp.differences += [(start, settings.classes[c], int(diff[c])) for c in np.flatnonzero(diff)]
        args = (settings.output_scale, settings.output_zero_point, settings.thresholds)
        _, mask = decide(h, *args)
        _, mask_of_board_q = decide(b, *args)
        bm = board_mask.get(start)
        cmp.decisions_agree += int(bm == mask)
        for c in range(len(settings.classes)):
            if bm is not None and ((bm ^ mask) >> c) & 1:
                crossed = bool(((mask_of_board_q ^ mask) >> c) & 1)
                cmp.decision_differences.append((start, settings.classes[c], int(b[c]), int(h[c]),
                                                 crossed))
    if run.traces:
        cmp.frames_board = dict(run.traces[-1]["frames"])
    return cmp


def compare_with_host(run: EmulatorRun, host_build: HostBuild, *, serial: bytes = b"",
                      adc_counts: np.ndarray | None = None, tflite_bytes: bytes | None = None,
                      model_dir: Path | None = None) -> Comparison:
    """The board's windows against the host's on the same input.

    Replay input: the same bytes through ``lrh_host --frames`` (the firmware's frame decoder and
    preprocessing compiled for the host).  ADC input: the rows the board's ring accepted (the
    ADC rows minus the dropped runs the board reported) through ``lrh_host --counts``.  Either
    way the int8 windows go through the TFLM host runtime.
    """
    settings_dir = host_build.settings_dir
    tflite_bytes = tflite_bytes if tflite_bytes is not None else \
        model_bytes(model_dir or settings_dir)
    if adc_counts is not None:
        n = run.exit["adc_rows"] if run.exit else len(adc_counts)
        rows = np.asarray(adc_counts)[:n]
        keep = np.ones(len(rows), bool)
        for first, count in run.drops:
            keep[first:first + count] = False
        received = rows[keep]
        hw = run_host(host_build, received, counts=True)
    else:
        hw = run_host_frames(host_build, serial)
    host_q = host_outputs(tflite_bytes, hw.windows, settings_dir)
    cmp = compare_outputs(run, hw.starts.tolist(), host_q, settings_dir)
    cmp.frames_host = {k: v for k, v in hw.summary.items()
                       if k in ("frames_ok", "bad_crc", "malformed", "out_of_order", "lost")}
    return cmp


# ------------------------------------------------------------------------------- footprint

_MAP_SECTION = re.compile(r"^(\.[A-Za-z_.]+)\s+0x([0-9a-f]+)\s+0x([0-9a-f]+)", re.M)


def elf_sizes(elf: Path) -> dict:
    """``arm-none-eabi-size`` of the ELF plus the linker map's output sections.

    Returns
    -------
    dict
        ``text``, ``data``, ``bss`` (size's Berkeley totals, which count the emulator's
        reserved stack and heap as bss), ``flash`` (text + data) and ``sections`` (name →
        bytes, from the map), ``stack``, ``heap``.
    """
    out = subprocess.run(["arm-none-eabi-size", str(elf)], capture_output=True, text=True,
                         check=True).stdout.splitlines()[1].split()
    text, data, bss = (int(v) for v in out[:3])
    sections = {}
    map_file = Path(elf).with_suffix(".map")
    if map_file.is_file():
        for name, _addr, size in _MAP_SECTION.findall(map_file.read_text()):
            sections[name] = sections.get(name, 0) + int(size, 16)
    return {"text": text, "data": data, "bss": bss, "flash": text + data,
            "ram_static": data + sections.get(".bss", bss),
            "stack": sections.get(".stack", 0), "heap": sections.get(".heap", 0),
            "sections": sections}


def arena_bytes(settings_dir: Path) -> int:
    """``kArenaBytes`` of a generated ``model_settings.h``."""
    return int(settings_value(settings_dir, "kArenaBytes"))


# ------------------------------------------------------------------- check of an export


def synthetic_stream_uv(settings: DeviceSettings, windows: int, seed: int = 0) -> np.ndarray:
    """``(n, leads)`` int16 µV of a synthetic ECG (the built-in generator) holding ``windows``
    windows at the model's rate and hop: a signal for checking arithmetic, not a diagnosis."""

    n = settings.window + settings.hop * (windows - 1)
    cfg = SynthConfig(fs=int(round(settings.fs)), seconds=n / settings.fs + 1.0, seed=seed)
    rec = simulate(np.random.default_rng(seed), ("426783006",), cfg)
    rows = [LEADS.index(lead) for lead in settings.leads]
    uv = np.rint(np.asarray(rec.signal[rows, :n], np.float64) * 1000.0).T
    return np.clip(uv, -32768, 32767).astype(np.int16)


def emulated_check(settings_dir: Path, tflm_dir: Path, *, host_build: HostBuild | None = None,
                   samples_uv: np.ndarray | None = None, windows: int = 3,
                   timeout: float = 1800) -> dict:
    """Prove a generated model on the emulated board: build, replay, compare, measure.

    Parameters
    ----------
    settings_dir
        Folder with the generated ``model_settings.h``, ``model_data.*``, ``model_ops.h``.
    tflm_dir
        TFLM tree to link (e.g. ``flavour_dir("cmsis-nn")``).
    host_build
        ``lrh_host`` for these settings (built when ``None``).
    samples_uv
        Samples to replay (default :func:`synthetic_stream_uv` with ``windows`` windows).

    Returns
    -------
    dict
        ``passed`` (every window's int8 outputs and decisions equal the host's, no board
        error), the comparison, instructions per inference and per operator, the arena the
        board used, the ELF's sizes and the real-time figures at :data:`BOARD_HZ` for
        :data:`CPI_RANGE`.
    """

    settings_dir = Path(settings_dir)
    settings = DeviceSettings.from_header(settings_dir)
    host_build = host_build or build_host(settings_dir)
    uv = samples_uv if samples_uv is not None else synthetic_stream_uv(settings, windows)
    build = build_elf(tflm_dir, settings_dir=settings_dir, timeout=timeout)
    serial = encode_sample_frames(uv, samples_per_frame=25)
    run = run_elf(build.elf, serial=serial, timeout=timeout)
    cmp = compare_with_host(run, host_build, serial=serial)
    insns = run.insns_per_inference
    median = float(np.median(insns)) if insns else 0.0
    per_op = {op: float(np.median([t["ops"][op][0] for t in run.traces if op in t["ops"]]))
              for op in (run.traces[0]["ops"] if run.traces else {})}
    hop_s = settings.hop / settings.fs
    times = [median * cpi / BOARD_HZ for cpi in CPI_RANGE]
    passed = bool(cmp.compared and cmp.identical == cmp.compared
                  and cmp.decisions_agree == cmp.compared and not run.errors)
    return {"passed": passed, "tflm": Path(tflm_dir).name, "comparison": cmp.summary(),
            "instructions_per_inference": insns, "instructions_median": median,
            "per_op_instructions": per_op,
            "arena_used_bytes": run.hello["arena_used"] if run.hello else None,
            "arena_bytes": settings.arena_bytes, "elf": elf_sizes(build.elf),
            "clock_hz": BOARD_HZ, "cpi_range": list(CPI_RANGE), "hop_s": hop_s,
            "inference_s": times, "realtime_margin_s": [hop_s - t for t in times],
            "errors": run.errors}


def measured_footprint(fp: dict, check: dict) -> dict:
    """``footprint.json`` with its assumed cycles-per-MAC latency replaced by the emulator's
    measured instruction count (``check`` from :func:`emulated_check`) and the stated
    cycles-per-instruction range."""
    out = {k: v for k, v in fp.items() if k not in ("cycles_per_mac", "assumptions", "time_ms")}
    lo, hi = (1000.0 * t for t in check["inference_s"])
    out["measured"] = {
        "source": f"QEMU mps2-an386 (Cortex-M4F, -icount shift=0), {check['tflm']}, -Os",
        "instructions_per_inference": check["instructions_median"],
        "per_op_instructions": check["per_op_instructions"],
        "arena_used_bytes": check["arena_used_bytes"],
        "flash_bytes": check["elf"]["flash"],
        "cpi_range": check["cpi_range"],
        "cpi_note": "cycles per instruction of a Cortex-M4 at 64 MHz from flash: 1.0 = every "
                    "instruction single-cycle (floor), 2.0 = pessimistic (2-cycle loads, "
                    "branches, flash wait states on cache misses); assumed, not measured",
    }
    out["time_ms"] = {"at_cpi_low": lo, "at_cpi_high": hi}
    out["realtime_margin_ms"] = {"hop_ms": 1000.0 * check["hop_s"],
                                 "at_cpi_high": 1000.0 * check["hop_s"] - hi}
    first = fp.get("summary", "").split("\n")[0]
    out["summary"] = (f"{first}\nCortex-M4F @ 64 MHz ({check['tflm']}): "
                      f"{check['instructions_median'] / 1e6:.1f} M instructions/window measured on "
                      f"the emulator = {lo:.0f}-{hi:.0f} ms at {check['cpi_range'][0]:g}-"
                      f"{check['cpi_range'][1]:g} cycles/instruction; hop "
                      f"{1000.0 * check['hop_s']:.0f} ms")
    return out


def emulate_export(files_dir: Path, tflm_dir: Path | None = None, *, windows: int = 3) -> dict:
    """The ``--emulate`` step of ``lrh-tflm export``/``build``: prove freshly generated model files
    on the emulated board and record the measurement.

    Runs :func:`emulated_check` on ``files_dir`` (the generated ``model_*`` files and
    ``footprint.json``) with ``tflm_dir`` (default the CMSIS-NN tree of :data:`THIRD_PARTY_DIR`),
    writes ``emulator.json`` there and replaces ``footprint.json``'s assumed latency with the
    measurement (:func:`measured_footprint`).

    Raises
    ------
    EmulatorError
        When QEMU/the toolchain/the tree are missing, or the board's outputs or decisions differ
        from the host's (the message names the first differences).
    """

    files_dir = Path(files_dir)
    tflm_dir = Path(tflm_dir) if tflm_dir else flavour_dir("cmsis-nn")
    if not have_emulator():
        raise EmulatorError(f"--emulate needs {QEMU} and arm-none-eabi-g++ (apt-get install "
                            "qemu-system-arm gcc-arm-none-eabi libnewlib-arm-none-eabi "
                            "libstdc++-arm-none-eabi-newlib)")
    if not (tflm_dir / "tensorflow").is_dir() and not (tflm_dir / "src" / "tensorflow").is_dir():
        raise EmulatorError(f"no TFLM tree at {tflm_dir} (pass the TFLM folder)")
    check = emulated_check(files_dir, tflm_dir, windows=windows)
    write_json_atomic(files_dir / "emulator.json", check)
    if not check["passed"]:
        c = check["comparison"]
        raise EmulatorError(f"the emulated board differs from the host: {c['identical']}/"
                            f"{c['windows_compared']} windows identical, decisions "
                            f"{c['decisions_agree']}/{c['windows_compared']}, first differences "
                            f"{c['differences'][:5]}, board errors {check['errors'][:3]}")
    fp_path = files_dir / "footprint.json"
    if fp_path.is_file():
        write_json_atomic(fp_path, measured_footprint(read_json(fp_path), check))
    return check


def emulate_summary(check: dict) -> str:
    """One line for the CLI."""
    c = check["comparison"]
    lo, hi = check["inference_s"]
    return (f"emulated board ({check['tflm']}): {c['identical']}/{c['windows_compared']} windows "
            f"bit-identical to the host TFLM; {check['instructions_median'] / 1e6:.1f} M "
            f"instructions/inference = {lo:.2f}-{hi:.2f} s at 64 MHz for "
            f"{check['cpi_range'][0]:g}-{check['cpi_range'][1]:g} cycles/instruction (hop "
            f"{check['hop_s']:.2f} s); arena {check['arena_used_bytes']:,}/{check['arena_bytes']:,} B; "
            f"flash {check['elf']['flash']:,} B")


__all__ = [
    "THIRD_PARTY_DIR", "FLAVOURS", "BOARD_HZ", "EmulatorError", "have_emulator", "flavour_dir",
    "EmulatorBuild", "build_elf", "EmulatorRun", "parse_output", "run_elf", "model_bytes",
    "host_outputs", "Comparison", "compare_outputs", "compare_with_host", "elf_sizes",
    "arena_bytes", "FirmwareError", "CPI_RANGE", "synthetic_stream_uv", "emulated_check",
    "measured_footprint", "emulate_export", "emulate_summary",
]
