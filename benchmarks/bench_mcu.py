"""The firmware measured on an emulated Cortex-M4F (issue 11), for the committed firmware model.

For each TFLM flavour (``cmsis-nn``, ``reference``, ``chirale``): the sketch + board_qemu.cpp +
``firmware/lrh_ecg/src`` + TFLM linked into an mps2-an386 ELF (:func:`lrh_tflm.device.emulator.
build_elf`), one real record replayed into it under ``qemu-system-arm -icount shift=0``:

- instructions per inference (exact: the CMSDK timer counts 1 tick per 40 instructions) and per
  operator (a MicroProfiler in the emulator build), per window and their median;
- the ELF's flash and RAM (``arm-none-eabi-size`` and the map's sections; the emulator reserves
  a 16 KB stack and an 8 KB heap in RAM, reported apart), the arena TFLM actually used
  (``arena_used_bytes()`` in the hello line) against ``kArenaBytes``;
- the real-time margin at the model's hop: inference time on a 64 MHz Cortex-M4 for the stated
  cycles-per-instruction range (:data:`lrh_tflm.device.emulator.CPI_RANGE`), against the hop;
- the board's int8 outputs against the TFLM host runtime on the same bytes.

``--nano`` also compiles the sketch for the Nano 33 BLE (``make nano33ble`` against
../shared/third_party) and records the sizes of its objects.  Writes ``results/mcu.json``.

Run: ``python benchmarks/bench_mcu.py [--nano] [--windows 3]`` (≈ 2 min with the TFLM archives
built; the first build of the three trees takes ≈ 10 min on 2 busy cores).
"""
from __future__ import annotations

import argparse
import re
import statistics
import subprocess
import time
from pathlib import Path

import lrh_tflm  # noqa: F401  (environment first, as everywhere in the project)
from lrh_tflm.config import PreprocessConfig
from lrh_tflm.data.record import RecordError
from lrh_tflm.device import build_host, encode_sample_frames
from lrh_tflm.device import emulator as em
from lrh_tflm.device.hostbuild import DeviceSettings
from lrh_tflm.device.stream import record_samples_uv
from lrh_tflm.infer import read_record
from lrh_tflm.io import read_json, write_json_atomic

from _bench import RESULTS, committed_model_sha256, machine, save_results

SRC = em.FIRMWARE_DIR / "lrh_ecg" / "src"
SAMPLES = em.FIRMWARE_DIR.parent.parent / "shared" / "data" / "challenge-samples"


def _longest_record(settings: DeviceSettings):
    """The longest real record of the Challenge samples (name, int16 µV at the model rate)."""
    cfg = PreprocessConfig(fs=settings.fs, window=settings.window, leads=settings.leads)
    best = None
    for path in sorted(SAMPLES.rglob("*.hea")):
        try:
            uv, _ = record_samples_uv(read_record(path), cfg)
        except RecordError:
            continue
        if best is None or len(uv) > len(best[1]):
            best = (path.stem, uv)
    return best
CPI_RANGE = em.CPI_RANGE  # cycles/instruction of a 64 MHz Cortex-M4 (stated in emulator.py)
CLOCK_HZ = em.BOARD_HZ


def _nano_sizes() -> dict:
    tp = em.THIRD_PARTY_DIR
    proc = subprocess.run(
        ["make", "-C", str(em.FIRMWARE_DIR), "-j2", "nano33ble",
         f"TFLM_DIR={tp / 'Chirale_TensorFlowLite'}", f"CORE_DIR={tp / 'ArduinoCore-mbed'}",
         f"API_DIR={tp / 'ArduinoCore-API'}", f"BLE_DIR={tp / 'ArduinoBLE'}"],
        capture_output=True, text=True, check=True)
    out = proc.stdout
    totals = re.findall(r"^\s*(\d+)\s+(\d+)\s+(\d+)\s+\d+\s+[0-9a-f]+\s+(\(TOTALS\)|\S+partial\.o)$",
                        out, re.M)
    names = ["project_objects", "chirale_tflm_objects", "relocatable_link"]
    sizes = {n: {"text": int(t), "data": int(d), "bss": int(b)} for n, (t, d, b, _) in zip(names, totals)}
    sizes["not_compiled_here"] = re.findall(r"^not compiled here: (\S+):", out, re.M)
    sizes["link"] = next((line for line in out.splitlines() if line.startswith("link:")), "")
    return sizes


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--windows", type=int, default=3, help="windows replayed per flavour "
                    "(reference kernels: 1)")
    ap.add_argument("--nano", action="store_true", help="also compile for the Nano 33 BLE")
    ap.add_argument("--o2", action="store_true", help="also CMSIS-NN with TFLM and the sketch at "
                    "-O2 (the Arduino core compiles at -Os)")
    ap.add_argument("--update-footprint", action="store_true",
                    help="replace firmware/lrh_ecg/src/footprint.json's assumed latency with the "
                         "CMSIS-NN measurement")
    ap.add_argument("--out", type=Path, default=RESULTS / "mcu.json")
    args = ap.parse_args()

    settings = DeviceSettings.from_header(SRC)
    record, uv = _longest_record(settings)
    host = build_host(SRC)
    hop_s = settings.hop / settings.fs
    result = {"model_sha256": committed_model_sha256(SRC), "record": record,
              "board_clock_hz": CLOCK_HZ, "cpi_range": list(CPI_RANGE), "hop_samples": settings.hop,
              "hop_s": hop_s, "arena_bytes": em.arena_bytes(SRC), "flavours": {},
              "machine": machine()}
    variants = [(f, "-Os") for f in em.FLAVOURS] + ([("cmsis-nn", "-O2")] if args.o2 else [])
    for flavour, opt in variants:
        t0 = time.perf_counter()
        build = em.build_elf(em.flavour_dir(flavour), opt=opt)
        build_s = time.perf_counter() - t0
        n_win = 1 if flavour == "reference" else args.windows
        need = settings.window + settings.hop * (n_win - 1)
        x = uv[:need] if len(uv) >= need else uv[: settings.window]
        serial = encode_sample_frames(x, samples_per_frame=25)
        run = em.run_elf(build.elf, serial=serial, timeout=1800)
        cmp = em.compare_with_host(run, host, serial=serial)
        insns = run.insns_per_inference
        ops_total = [int(t["ops_insns"]) for t in run.traces]
        per_op = {op: [int(t["ops"][op][0]) for t in run.traces] for op in run.traces[0]["ops"]}
        calls = {op: int(run.traces[0]["ops"][op][1]) for op in run.traces[0]["ops"]}
        median = statistics.median(insns)
        times = [median * cpi / CLOCK_HZ for cpi in CPI_RANGE]
        result["flavours"][flavour if opt == "-Os" else f"{flavour} {opt}"] = {
            "opt": opt,
            "tree": str(em.flavour_dir(flavour).name),
            "windows": len(run.traces),
            "instructions_per_inference": insns,
            "instructions_per_inference_median": median,
            "instructions_in_operators": ops_total,
            "per_op_instructions_median": {op: statistics.median(v) for op, v in per_op.items()},
            "per_op_calls": calls,
            "inference_s_at_64mhz": times,
            "realtime_margin_s": [hop_s - t for t in times],
            "inference_over_hop": [t / hop_s for t in times],
            "keeps_up": times[1] < hop_s,
            "arena_used_bytes": run.hello["arena_used"],
            "elf": em.elf_sizes(build.elf),
            "vs_host_tflm": cmp.summary(),
            "build_s": round(build_s, 1),
            "emulation_wall_s": round(run.wall_s, 2),
        }
    if args.nano:
        result["nano33ble"] = _nano_sizes()
    if args.update_footprint:
        check = em.emulated_check(SRC, em.flavour_dir("cmsis-nn"), host_build=host, samples_uv=
                                  uv[: settings.window + settings.hop * (args.windows - 1)])
        if not check["passed"]:
            raise SystemExit(f"emulated check failed: {check['comparison']}")
        fp_path = SRC / "footprint.json"
        write_json_atomic(fp_path, em.measured_footprint(read_json(fp_path), check))
        result["footprint_updated"] = str(fp_path.relative_to(em.FIRMWARE_DIR.parent))
    save_results(args.out, result)


if __name__ == "__main__":
    main()
