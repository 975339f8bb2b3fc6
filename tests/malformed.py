"""A corpus of malformed inputs (issue 13): every way a dataset, a record list or a model file
has been seen to break, each written into its own folder beside a good record.

Each :class:`Case` writes its input with ``make(folder, kit)`` and returns the CLI arguments
that read it; :mod:`test_malformed_corpus` runs them and checks the answer: no traceback,
the exit code, a line naming the record (or file) with the reason, and the counts of
skipped records and warnings — so nothing is a crash and nothing passes silently.

The inputs are built from one real Challenge record (``cinc2020/E00009``: 12 leads, 500 Hz,
10 s, MATLAB v4 ``.mat``), Chapman-Ningbo records with dead V2/V4/V6 (``cinc2021/JS20004``),
a PTB-XL slice (``unpack.py --limit 3``) and the committed firmware test fixture model
(``firmware/tests/fixture/model_data.cc``: untrained LRH-Net, leads I and II, 125 Hz,
1024-sample windows), so no case needs training or TensorFlow.
"""
from __future__ import annotations

import csv
import json
import os
import shutil
import struct
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np
import scipy.io

REPO = Path(__file__).resolve().parents[1]
FIXTURE_MODEL = REPO / "firmware" / "tests" / "fixture" / "model_data.cc"
GOOD = ("cinc2020", "E00009")
FLAT = ("cinc2021", "JS20004")  # V2, V4, V6 all zeros


@dataclass
class Kit:
    """What the cases build from: the real samples, a PTB-XL slice, the fixture model."""

    samples: Path
    ptbxl: Path | None
    model: bytes
    cache: Path

    @staticmethod
    def fixture_model() -> bytes:
        from lrh_tflm.device.codegen import parse_c_array

        return parse_c_array(FIXTURE_MODEL.read_text())

    @staticmethod
    def fixture_sidecar() -> dict:
        """The fixture's sidecar, from its model_settings.h (I, II; 125 Hz; 1024; 9 classes)."""
        leads = ["I", "II"]
        return {
            "leads": leads, "fs": 125.0, "window": 1024, "hop": 250,
            "classes": {"classes": [f"10000000{i}" for i in range(9)],
                        "abbreviations": [f"C{i}" for i in range(9)]},
            "thresholds": [0.5] * 9,
            "preprocessing": {"fs": 125.0, "window": 1024, "band_hz": [0.5, 40.0],
                              "filter_order": 2, "normalise": "zscore", "zscore_eps": 0.001,
                              "leads": leads},
        }

    # ------------------------------------------------------------------ helpers
    def copy(self, which: tuple[str, str], folder: Path, name: str | None = None) -> Path:
        """Copy a sample record into ``folder`` (renamed to ``name``); returns its header."""
        folder.mkdir(parents=True, exist_ok=True)
        coll, rec = which
        name = name or rec
        text = (self.samples / coll / f"{rec}.hea").read_text()
        (folder / f"{name}.hea").write_text(text.replace(rec, name))
        shutil.copyfile(self.samples / coll / f"{rec}.mat", folder / f"{name}.mat")
        return folder / f"{name}.hea"

    def good(self, folder: Path) -> Path:
        return self.copy(GOOD, folder, "GOOD1")

    def bundle(self, folder: Path, data: bytes | None = None, sidecar: dict | None = None,
               name: str = "model") -> Path:
        folder.mkdir(parents=True, exist_ok=True)
        path = folder / f"{name}.tflite"
        path.write_bytes(self.model if data is None else data)
        if sidecar is not False:
            (folder / f"{name}.json").write_text(json.dumps(sidecar or self.fixture_sidecar()))
        return path


@dataclass(frozen=True)
class Case:
    """One malformed input and the answer the CLI must give.

    ``name`` and ``reason`` (a regex): a line of the output must name the record or file and
    match the reason; ``reason=None`` for an input that is handled, not reported (age 300,
    upper-case suffixes), whose ``kept`` count and ``extra`` check say it was read right.
    ``problems``/``warnings``: skipped records and warnings the command must count (``None``:
    not checked, e.g. for a command that stops with an error); ``kept``: records still
    read (inspect), prepared (prepare) or run (run).
    """

    id: str
    area: str
    command: str
    make: Callable[[Path, Kit], list[str]]
    name: str
    reason: str | None
    exit_code: int = 0
    problems: int | None = None
    warnings: int | None = None
    kept: int | None = None
    extra: Callable[[dict], None] | None = field(default=None, compare=False)


# ----------------------------------------------------------------------------- builders

def _inspect(folder: Path, kit: Kit, spec: str | None = None) -> list[str]:
    return ["data", "inspect", spec or str(folder), "--json", "--workers", "1",
            "--no-progress", "--cache", str(kit.cache)]


def _prepare(folder: Path, kit: Kit, spec: str | None = None) -> list[str]:
    return ["data", "prepare", spec or str(folder), "--workers", "1", "--no-progress",
            "--cache", str(kit.cache / folder.name)]


def _header_case(edit: Callable[[str], str], command: str = "inspect"):
    """A bad copy of the good record named BAD (its header text edited) beside GOOD1."""

    def make(folder: Path, kit: Kit) -> list[str]:
        data = folder / "data"
        kit.good(data)
        hea = kit.copy(GOOD, data, "BAD")
        hea.write_text(edit(hea.read_text()))
        return (_inspect if command == "inspect" else _prepare)(data, kit)

    return make


def _lines(text: str) -> list[str]:
    return text.splitlines()


def _set_line(index: int, new: str):
    def edit(text: str) -> str:
        lines = _lines(text)
        lines[index] = new
        return "\n".join(lines) + "\n"
    return edit


def _field(index: int, pos: int, value: str):
    """Replace whitespace field ``pos`` of header line ``index``."""
    def edit(text: str) -> str:
        lines = _lines(text)
        fields = lines[index].split()
        fields[pos] = value
        lines[index] = " ".join(fields)
        return "\n".join(lines) + "\n"
    return edit


def _comment(key: str, value: str | None):
    """Set (or, with ``None``, remove) the ``#Key:`` comment line."""
    def edit(text: str) -> str:
        lines = [ln for ln in _lines(text) if not ln.lower().startswith(f"#{key.lower()}:")]
        if value is not None:
            lines.append(f"#{key}: {value}")
        return "\n".join(lines) + "\n"
    return edit


def _signal_case(write: Callable[[Path], None], command: str = "inspect"):
    """BAD's header is good; its .mat is replaced by ``write(path)``."""

    def make(folder: Path, kit: Kit) -> list[str]:
        data = folder / "data"
        kit.good(data)
        hea = kit.copy(GOOD, data, "BAD")
        mat = hea.with_suffix(".mat")
        mat.unlink()
        write(mat)
        return (_inspect if command == "inspect" else _prepare)(data, kit)

    return make


def _v4_header(mrows: int, ncols: int, mopt: int = 30, name: bytes = b"val\x00") -> bytes:
    return struct.pack("<5i", mopt, mrows, ncols, 0, len(name)) + name


def _write_v73(path: Path) -> None:
    # A MATLAB v7.3 file: 116 bytes of text, subsystem offset, version 0x0200, "IM", then HDF5.
    head = b"MATLAB 7.3 MAT-file, Platform: GLNXA64, Created on: Mon Jan  1 00:00:00 2024 HDF5 schema 1.00 ."
    head = head.ljust(116, b" ") + b"\x00" * 8 + b"\x00\x02" + b"IM"
    path.write_bytes(head.ljust(512, b"\x00") + b"\x89HDF\r\n\x1a\n" + b"\x00" * 2048)


def _write_v5(path: Path, **variables) -> None:
    scipy.io.savemat(str(path), variables, format="5")


def _real_mat(kit: Kit) -> np.ndarray:
    return scipy.io.loadmat(str(kit.samples / GOOD[0] / f"{GOOD[1]}.mat"))["val"]


def _signal_case_kit(write: Callable[[Path, Kit], None], command: str = "inspect"):
    def make(folder: Path, kit: Kit) -> list[str]:
        return _signal_case(lambda p: write(p, kit), command)(folder, kit)
    return make


def _fs_case(prepare: Callable[[Path, Kit], None], command: str = "inspect"):
    """Free-form: ``prepare(data_folder, kit)`` adds the oddity beside GOOD1."""

    def make(folder: Path, kit: Kit) -> list[str]:
        data = folder / "data"
        kit.good(data)
        prepare(data, kit)
        return (_inspect if command == "inspect" else _prepare)(data, kit)

    return make


# ---- CSV lists

def _csv_case(rows: list[str], columns: str = "path,labels,age,sex,fold",
              command: str = "inspect"):
    """A list naming GOOD1 (first row) and the given rows; records in ``recs/``."""

    def make(folder: Path, kit: Kit) -> list[str]:
        kit.good(folder / "recs")
        kit.copy(GOOD, folder / "recs", "OTHER")
        text = columns + "\n" + "recs/GOOD1,164889003,50,M,\n" + "".join(r + "\n" for r in rows)
        (folder / "list.csv").write_text(text)
        spec = "csv:" + str(folder / "list.csv")
        return (_inspect if command == "inspect" else _prepare)(folder, kit, spec)

    return make


# ---- PTB-XL tables

def _ptbxl_case(edit: Callable[[list[dict], list[str]], list[dict]], command: str = "inspect"):
    """The PTB-XL slice with its database rows edited by ``edit(rows, fieldnames)``."""

    def make(folder: Path, kit: Kit) -> list[str]:
        root = folder / "ptbxl"
        shutil.copytree(kit.ptbxl, root)
        db = root / "ptbxl_database.csv"
        with open(db, newline="") as fh:
            reader = csv.DictReader(fh)
            names = list(reader.fieldnames or [])
            rows = list(reader)
        rows = edit(rows, names)
        names = [n for n in names if any(n in r for r in rows)] if rows else names
        with open(db, "w", newline="") as fh:
            writer = csv.DictWriter(fh, fieldnames=names, extrasaction="ignore")
            writer.writeheader()
            writer.writerows(rows)
        spec = f"ptbxl:{root}?rate=100"
        return (_inspect if command == "inspect" else _prepare)(folder, kit, spec)

    return make


def _row(i: int, **values):
    def edit(rows, names):
        rows[i].update(values)
        return rows
    return edit


def _dup_row(i: int, **values):
    def edit(rows, names):
        return rows + [{**rows[i], **values}]
    return edit


def _drop_column(col: str):
    def edit(rows, names):
        for r in rows:
            r.pop(col, None)
        return rows
    return edit


# ---- models and sidecars

def _run(folder: Path, model: Path, *records: Path, runtime: str = "tflm") -> list[str]:
    return ["run", *map(str, records), "--model", str(model), "--runtime", runtime]


def _model_case(corrupt: Callable[[bytes], bytes], command: str = "run", runtime: str = "tflm"):
    def make(folder: Path, kit: Kit) -> list[str]:
        model = kit.bundle(folder / "m", corrupt(kit.model), name="BADMODEL")
        good = kit.good(folder / "data")
        if command == "run":
            return _run(folder, model, good, runtime=runtime)
        return ["evaluate", str(model), "--data", str(folder / "data"), "--json",
                "--cache", str(kit.cache / folder.name)]
    return make


def _sidecar_case(edit: Callable[[dict], object], command: str = "run", raw: str | None = None):
    def make(folder: Path, kit: Kit) -> list[str]:
        model = kit.bundle(folder / "m", name="MODEL")
        side = model.with_suffix(".json")
        if raw is not None:
            side.write_text(raw)
        else:
            side.write_text(json.dumps(edit(kit.fixture_sidecar())))
        kit.good(folder / "data")
        kit.copy(GOOD, folder / "data", "GOOD2")
        if command == "run":
            return _run(folder, model, folder / "data" / "GOOD1.hea", folder / "data" / "GOOD2.hea")
        return ["evaluate", str(model), "--data", str(folder / "data"), "--json",
                "--cache", str(kit.cache / folder.name)]
    return make


def _patch(**values):
    def edit(side):
        side = json.loads(json.dumps(side))
        for key, value in values.items():
            if key.startswith("pre_"):
                side["preprocessing"][key[4:]] = value
            else:
                side[key] = value
        return side
    return edit


def _flip(start: int, stop: int):
    return lambda b: b[:start] + bytes(x ^ 0xFF for x in b[start:stop]) + b[stop:]


def _run_records(prepare: Callable[[Path, Kit], list[Path]], runtime: str = "tflm"):
    """``run`` on the records ``prepare`` writes (after GOOD1), with the fixture model."""

    def make(folder: Path, kit: Kit) -> list[str]:
        model = kit.bundle(folder / "m")
        good = kit.good(folder / "data")
        return _run(folder, model, good, *prepare(folder / "data", kit), runtime=runtime)

    return make


def _symlink(target: str, link: str):
    def prep(data: Path, kit: Kit) -> None:
        os.symlink(target, data / link)
    return prep


def _upper(data: Path, kit: Kit) -> None:
    hea = kit.copy(GOOD, data, "UPPER")
    text = hea.read_text().replace("UPPER.mat", "UPPER.MAT")
    hea.unlink()
    (data / "UPPER.HEA").write_text(text)
    hea.with_suffix(".mat").rename(data / "UPPER.MAT")


def _upper_lower_ref(data: Path, kit: Kit) -> None:
    # The header names "LOWER.mat"; the disk holds "LOWER.MAT" (a copy from a Windows disk).
    hea = kit.copy(GOOD, data, "LOWER")
    hea.with_suffix(".mat").rename(data / "LOWER.MAT")


def _age_check(value):
    def check(summary: dict) -> None:
        assert summary["ages"]["max"] == value, summary["ages"]
    return check


# ----------------------------------------------------------------------------- the corpus

def _cases() -> list[Case]:
    H, S, D, L, P, C, M, SC, F = ("headers", "signals", "demographics", "labels", "ptbxl",
                                  "csv", "model", "sidecar", "filesystem")
    ins = dict(command="inspect", kept=1, problems=1, warnings=0)
    warn = dict(command="inspect", kept=2, problems=0, warnings=1)
    cases = [
        # ---------------------------------------------------------------- headers
        Case("hdr-empty", H, make=_header_case(lambda t: ""), name="BAD",
             reason=r"no record line", **ins),
        Case("hdr-comments-only", H, make=_header_case(lambda t: "#Age: 5\n#Dx: 1\n"),
             name="BAD", reason=r"no record line", **ins),
        Case("hdr-no-signal-count", H, make=_header_case(_set_line(0, "BAD")), name="BAD",
             reason=r"lacks the number of signals", **ins),
        Case("hdr-signal-count-text", H, make=_header_case(_field(0, 1, "twelve")), name="BAD",
             reason=r"number of signals 'twelve' is not an integer", **ins),
        Case("hdr-zero-signals", H, make=_header_case(_field(0, 1, "0")), name="BAD",
             reason=r"0 signals", **ins),
        Case("hdr-fs-zero", H, make=_header_case(_field(0, 2, "0")), name="BAD",
             reason=r"sampling frequency 0 Hz must be positive", **ins),
        Case("hdr-fs-negative", H, make=_header_case(_field(0, 2, "-500")), name="BAD",
             reason=r"sampling frequency -500 Hz must be positive", **ins),
        Case("hdr-fs-text", H, make=_header_case(_field(0, 2, "fast")), name="BAD",
             reason=r"sampling frequency 'fast' is not a number", **ins),
        Case("hdr-fs-nan", H, make=_header_case(_field(0, 2, "nan")), name="BAD",
             reason=r"sampling frequency nan Hz must be positive", **ins),
        Case("hdr-samples-negative", H, make=_header_case(_field(0, 3, "-5000")), name="BAD",
             reason=r"-5000 samples per signal", **ins),
        Case("hdr-truncated", H,
             make=_header_case(lambda t: "\n".join(_lines(t)[:6]) + "\n"), name="BAD",
             reason=r"truncated header: declares 12 signals but has 5", **ins),
        Case("hdr-bad-format", H, make=_header_case(_field(1, 1, "16q")), name="BAD",
             reason=r"format '16q' is not a WFDB format", **ins),
        Case("hdr-bad-gain", H, make=_header_case(_field(1, 2, "lots/mV")), name="BAD",
             reason=r"gain 'lots/mV' is not a number", **ins),
        Case("hdr-gain-zero", H, make=_header_case(_field(1, 2, "0/mV")), name="BAD",
             reason=r"the gain must be positive", **ins),
        Case("hdr-units-mmhg", H, make=_header_case(_field(1, 2, "4880/mmHg")), name="BAD",
             reason=r"'mmHg', not a voltage unit", **ins),
        Case("hdr-adc-resolution-text", H, make=_header_case(_field(1, 3, "sixteen")),
             name="BAD", reason=r"ADC resolution 'sixteen' is not an integer", **ins),
        Case("hdr-no-lead-name", H,
             make=_header_case(lambda t: t.replace(" 0 I\n", " \n", 1)), name="BAD",
             reason=r"signal 1 has no lead name", **ins),
        Case("hdr-unknown-lead", H, make=_header_case(_field(1, 8, "V7")), name="BAD",
             reason=r"V7", **ins),
        Case("hdr-repeated-lead", H, make=_header_case(_field(2, 8, "I")), name="BAD",
             reason=r"lead names repeat", **ins),
        Case("hdr-multi-segment", H, make=_header_case(_field(0, 0, "BAD/2")), name="BAD",
             reason=r"multi-segment WFDB records are not supported", **ins),
        Case("hdr-binary-garbage", H,
             make=_header_case(lambda t: bytes(range(256)).decode("latin-1") * 4), name="BAD",
             reason=r"bad header", **ins),
        # ---------------------------------------------------------------- signal files
        Case("sig-missing", S, make=_signal_case(lambda p: None), name="BAD",
             reason=r"missing signal file BAD\.mat", **ins),
        Case("sig-empty", S, make=_signal_case(lambda p: p.write_bytes(b"")), name="BAD",
             reason=r"unreadable BAD\.mat", **ins),
        Case("sig-truncated", S,
             make=_signal_case_kit(lambda p, k: p.write_bytes(
                 (k.samples / GOOD[0] / f"{GOOD[1]}.mat").read_bytes()[:100])), name="BAD",
             reason=r"unreadable BAD\.mat: its MATLAB v4 header claims a 12 × 5000 matrix", **ins),
        Case("sig-matlab-v73", S, make=_signal_case(_write_v73), name="BAD",
             reason=r"MATLAB v7\.3 \(HDF5\) \.mat, which is not supported; save it as a v5 or v4",
             **ins),
        Case("sig-matlab-v73-prepare", S, make=_signal_case(_write_v73, "prepare"), name="BAD",
             reason=r"MATLAB v7\.3 \(HDF5\)", command="prepare", kept=1, problems=1, warnings=0),
        Case("sig-v4-huge-columns", S,
             make=_signal_case(lambda p: p.write_bytes(_v4_header(12, 0x7FFFFFFF) + b"\0" * 64)),
             name="BAD", reason=r"claims a 12 × 2147483647 matrix .* but the file has 88 bytes",
             **ins),
        Case("sig-v4-negative-rows", S,
             make=_signal_case(lambda p: p.write_bytes(_v4_header(-12, 5000) + b"\0" * 64)),
             name="BAD", reason=r"corrupt MATLAB v4 matrix header", **ins),
        Case("sig-random-bytes", S,
             make=_signal_case(lambda p: p.write_bytes(np.random.default_rng(0).bytes(4096))),
             name="BAD", reason=r"unreadable BAD\.mat", **ins),
        Case("sig-no-val", S,
             make=_signal_case_kit(lambda p, k: _write_v5(p, x=_real_mat(k))), name="BAD",
             reason=r"has no variable 'val'", **ins),
        Case("sig-val-text", S, make=_signal_case(lambda p: _write_v5(p, val="not samples")),
             name="BAD", reason=r"expected a numeric signals × samples matrix", **ins),
        Case("sig-fewer-signals", S,
             make=_signal_case_kit(lambda p, k: _write_v5(p, val=_real_mat(k)[:6])), name="BAD",
             reason=r"short BAD\.mat: holds 6 signal\(s\), header declares 12", **ins),
        Case("sig-fewer-samples", S,
             make=_signal_case_kit(lambda p, k: _write_v5(p, val=_real_mat(k)[:, :4000])),
             name="BAD", reason=r"short BAD\.mat: holds 4000 samples per signal, header declares 5000",
             **ins),
        Case("sig-nan", S,
             make=_signal_case_kit(lambda p, k: _write_v5(
                 p, val=np.where(np.arange(5000) == 7, np.nan, _real_mat(k).astype(float)))),
             name="BAD", reason=r"NaN or infinite samples in lead\(s\) I, II", **ins),
        Case("sig-all-flat", S,
             make=_signal_case(lambda p: _write_v5(p, val=np.zeros((12, 5000), np.int16))),
             name="BAD", reason=r"flat line in lead\(s\) I, II, .*V6 .*no lead that is read", **ins),
        Case("sig-directory", S, make=_signal_case(lambda p: p.mkdir()), name="BAD",
             reason=r"signal file BAD\.mat is a directory", **ins),
        Case("sig-dangling-link", S, make=_signal_case(lambda p: os.symlink("gone.mat", p)),
             name="BAD", reason=r"signal file BAD\.mat is a dangling symbolic link", **ins),
        # 5000 samples at 5000 Hz: one second.
        Case("sig-too-short", S, make=_header_case(_field(0, 2, "5000")), name="BAD",
             reason=r"too short: 1\.00 s < 2 s", **ins),
        Case("sig-rate-too-low", S, make=_header_case(_field(0, 2, "40")), name="BAD",
             reason=r"sampling rate 40 Hz is below the minimum 50 Hz", **ins),
        Case("sig-rate-not-a-ratio", S, make=_header_case(_field(0, 2, "500.0031")), name="BAD",
             reason=r"cannot resample", **ins),
        Case("sig-flat-v2-v4-v6-kept", S, make=_fs_case(lambda d, k: k.copy(FLAT, d)),
             name="JS20004", reason=r"flat line in lead\(s\) V2, V4, V6 .*kept as zeros", **warn),
        Case("sig-flat-v2-v4-v6-prepare", S,
             make=_fs_case(lambda d, k: k.copy(FLAT, d), "prepare"), command="prepare",
             name="JS20004", reason=r"flat line in lead\(s\) V2, V4, V6 .*kept as zeros", kept=2,
             problems=0, warnings=1),
        # ---------------------------------------------------------------- demographics
        Case("age-300-is-90", D, make=_header_case(_comment("Age", "300")), name="BAD",
             reason=None, command="inspect", kept=2, problems=0, warnings=0,
             extra=_age_check(90.0)),
        Case("age-negative", D, make=_header_case(_comment("Age", "-5")), name="BAD",
             reason=r"age '-5' is not an age from 0 to 150 years .*read as unknown", **warn),
        Case("age-text", D, make=_header_case(_comment("Age", "abc")), name="BAD",
             reason=r"age 'abc' is not a number of years", **warn),
        Case("age-inf", D, make=_header_case(_comment("Age", "inf")), name="BAD",
             reason=r"age 'inf' is not an age", **warn),
        Case("age-200", D, make=_header_case(_comment("Age", "200")), name="BAD",
             reason=r"age '200' is not an age .*300 would mean over 89", **warn),
        Case("sex-x", D, make=_header_case(_comment("Sex", "X")), name="BAD",
             reason=r"sex 'X' is not M/F/Male/Female/Unknown", **warn),
        Case("age-and-sex-bad", D,
             make=_header_case(lambda t: _comment("Sex", "?!")(_comment("Age", "old")(t))),
             name="BAD", reason=r"sex '\?!'", command="inspect", kept=2, problems=0, warnings=2),
        Case("csv-age-300-is-90", D, make=_csv_case(["recs/OTHER,164889003,300,F,"]),
             name="OTHER", reason=None, command="inspect", kept=2, problems=0, warnings=0,
             extra=_age_check(90.0)),
        Case("csv-age-negative", D, make=_csv_case(["recs/OTHER,164889003,-5,F,"]),
             name="OTHER", reason=r"list\.csv: age '-5' is not an age", **warn),
        Case("csv-age-inf", D, make=_csv_case(["recs/OTHER,164889003,inf,F,"]),
             name="OTHER", reason=r"age 'inf' is not an age", **warn),
        Case("csv-sex-x", D, make=_csv_case(["recs/OTHER,164889003,40,X,"]),
             name="OTHER", reason=r"sex 'X' is not M/F", **warn),
        # ---------------------------------------------------------------- labels
        Case("dx-unknown", L, make=_header_case(_comment("Dx", "Unknown")), name="BAD",
             reason=r"bad Dx: 'Unknown' is not a SNOMED CT code", **ins),
        Case("dx-garbage", L, make=_header_case(_comment("Dx", "abc,xyz!")), name="BAD",
             reason=r"bad Dx: 'abc', 'xyz!' are not SNOMED CT codes", **ins),
        Case("dx-mixed", L, make=_header_case(_comment("Dx", "164889003,AF")), name="BAD",
             reason=r"bad Dx: 'AF'", **ins),
        Case("dx-empty", L, make=_header_case(_comment("Dx", "")), name="BAD",
             reason=r"no labels: the Dx line is empty", **ins),
        Case("dx-missing", L, make=_header_case(_comment("Dx", None)), name="BAD",
             reason=r"no labels: the header has no Dx line", **ins),
        # ---------------------------------------------------------------- PTB-XL tables
        Case("ptb-duplicate-ecg-id", P, make=_ptbxl_case(_dup_row(0)), name="00001",
             reason=r"duplicate ecg_id 1: ptbxl_database\.csv row 5 repeats row 2",
             command="inspect", kept=3, problems=1, warnings=0),
        Case("ptb-duplicate-ecg-id-spelling", P, make=_ptbxl_case(_dup_row(0, ecg_id="1.0")),
             name="00001", reason=r"duplicate ecg_id 1", command="inspect", kept=3, problems=1,
             warnings=0),
        Case("ptb-same-file-twice", P, make=_ptbxl_case(_dup_row(0, ecg_id="99")), name="00099",
             reason=r"names the signal file records100/00000/00001_lr of row 2 again",
             command="inspect", kept=3, problems=1, warnings=0),
        Case("ptb-fold-11", P, make=_ptbxl_case(_row(1, strat_fold="11")), name="00002",
             reason=r"strat_fold 11 .* outside PTB-XL's folds 1", command="inspect", kept=2,
             problems=1, warnings=0),
        Case("ptb-fold-0", P, make=_ptbxl_case(_row(1, strat_fold="0")), name="00002",
             reason=r"strat_fold 0 .* outside", command="inspect", kept=2, problems=1, warnings=0),
        Case("ptb-fold-inf", P, make=_ptbxl_case(_row(1, strat_fold="inf")), name="00002",
             reason=r"strat_fold 'inf' .* is not a fold number", command="inspect", kept=2,
             problems=1, warnings=0),
        Case("ptb-fold-text", P, make=_ptbxl_case(_row(1, strat_fold="ten")), name="00002",
             reason=r"strat_fold 'ten'", command="inspect", kept=2, problems=1, warnings=0),
        Case("ptb-ecg-id-text", P, make=_ptbxl_case(_row(1, ecg_id="two")), name="row 3",
             reason=r"ecg_id 'two' is not a number", command="inspect", kept=2, problems=1,
             warnings=0),
        Case("ptb-scp-codes-garbage", P, make=_ptbxl_case(_row(1, scp_codes="{'NORM': ")),
             name="00002", reason=r"unreadable scp_codes", command="inspect", kept=2,
             problems=1, warnings=0),
        Case("ptb-missing-signal", P,
             make=_ptbxl_case(_row(1, filename_lr="records100/00000/nowhere_lr")),
             name="00002", reason=r"header nowhere_lr\.hea not found", command="inspect",
             kept=2, problems=1, warnings=0),
        Case("ptb-age-300-is-90", P, make=_ptbxl_case(_row(1, age="300")), name="00002",
             reason=None, command="inspect", kept=3, problems=0, warnings=0,
             extra=_age_check(90.0)),
        Case("ptb-age-negative", P, make=_ptbxl_case(_row(1, age="-3")), name="00002",
             reason=r"age '-3' is not an age .*row 3", command="inspect", kept=3, problems=0,
             warnings=1),
        Case("ptb-sex-7", P, make=_ptbxl_case(_row(1, sex="7")), name="00002",
             reason=r"sex '7' is not 0 \(male\) or 1 \(female\)", command="inspect", kept=3,
             problems=0, warnings=1),
        Case("ptb-missing-column", P, make=_ptbxl_case(_drop_column("strat_fold")),
             name="ptbxl_database.csv", reason=r"lacks column\(s\) strat_fold", command="inspect",
             exit_code=1),
        # ---------------------------------------------------------------- CSV lists
        Case("csv-missing-columns", C, make=_csv_case([], columns="file,dx"), name="list.csv",
             reason=r"needs a header row with columns path,labels.*missing: path, labels",
             command="inspect", exit_code=1),
        Case("csv-empty-path", C, make=_csv_case([",164889003,,,"]), name="list.csv line 3",
             reason=r"empty path", command="inspect", kept=1, problems=1, warnings=0),
        Case("csv-listed-twice", C, make=_csv_case(["recs/GOOD1,426783006,,,"]), name="GOOD1",
             reason=r"list\.csv line 3: record listed twice", command="inspect", kept=1,
             problems=1, warnings=0),
        Case("csv-missing-record", C, make=_csv_case(["recs/NOPE,164889003,,,"]), name="NOPE",
             reason=r"record file .*NOPE\.hea not found", command="inspect", kept=1, problems=1,
             warnings=0),
        Case("csv-fold-text", C, make=_csv_case(["recs/OTHER,164889003,,,first"]), name="OTHER",
             reason=r"fold 'first' is not an integer", command="inspect", kept=1, problems=1,
             warnings=0),
        Case("csv-fold-negative", C, make=_csv_case(["recs/OTHER,164889003,,,-1"]), name="OTHER",
             reason=r"fold -1 is outside 0", command="inspect", kept=1, problems=1, warnings=0),
        Case("csv-no-labels", C, make=_csv_case(["recs/OTHER,,,,"]), name="OTHER",
             reason=r"no labels in list\.csv", command="inspect", kept=1, problems=1, warnings=0),
        Case("csv-prepare-keeps-good", C, make=_csv_case(["recs/NOPE,164889003,,,"], command="prepare"),
             name="NOPE", reason=r"not found", command="prepare", kept=1, problems=1, warnings=0),
        # ---------------------------------------------------------------- model files
        Case("model-truncated-tflm", M, make=_model_case(lambda b: b[:len(b) // 3]),
             name="BADMODEL.tflite", reason=r"not a valid TFLite flatbuffer \(", command="run",
             exit_code=1),
        Case("model-truncated-litert", M,
             make=_model_case(lambda b: b[:len(b) // 3], runtime="litert"),
             name="BADMODEL.tflite", reason=r"not a valid TFLite flatbuffer \(", command="run",
             exit_code=1),
        Case("model-just-the-header", M, make=_model_case(lambda b: b[:40]),
             name="BADMODEL.tflite", reason=r"not a valid TFLite flatbuffer", command="run",
             exit_code=1),
        Case("model-random-after-identifier", M,
             make=_model_case(lambda b: b[:8] + np.random.default_rng(1).bytes(len(b) - 8)),
             name="BADMODEL.tflite", reason=r"not a valid TFLite flatbuffer", command="run",
             exit_code=1),
        Case("model-bit-flipped-root", M, make=_model_case(_flip(8, 40)),
             name="BADMODEL.tflite", reason=r"not a valid TFLite flatbuffer", command="run",
             exit_code=1),
        Case("model-bit-flipped-tables", M, make=_model_case(_flip(200, 400)),
             name="BADMODEL.tflite", reason=r"not a valid TFLite flatbuffer", command="run",
             exit_code=1),
        Case("model-no-identifier", M, make=_model_case(lambda b: b"\0" * 64),
             name="BADMODEL.tflite", reason=r"not a TFLite flatbuffer \(missing 'TFL3'",
             command="run", exit_code=1),
        Case("model-empty-file", M, make=_model_case(lambda b: b""), name="BADMODEL.tflite",
             reason=r"not a TFLite flatbuffer", command="run", exit_code=1),
        Case("model-truncated-evaluate", M,
             make=_model_case(lambda b: b[:len(b) // 2], command="evaluate"),
             name="BADMODEL.tflite", reason=r"not a valid TFLite flatbuffer", command="evaluate",
             exit_code=1),
        Case("model-random-evaluate", M,
             make=_model_case(lambda b: b[:8] + np.random.default_rng(2).bytes(len(b) - 8),
                              command="evaluate"),
             name="BADMODEL.tflite", reason=r"not a valid TFLite flatbuffer", command="evaluate",
             exit_code=1),
        # ---------------------------------------------------------------- sidecars
        Case("sidecar-unknown-lead", SC, make=_sidecar_case(_patch(leads=["I", "V7"])),
             name="MODEL.json", reason=r"leads: .*V7", command="run", exit_code=1),
        Case("sidecar-unknown-lead-evaluate", SC,
             make=_sidecar_case(_patch(leads=["I", "V7"]), command="evaluate"),
             name="MODEL.json", reason=r"V7", command="evaluate", exit_code=1),
        Case("sidecar-fs-zero", SC, make=_sidecar_case(_patch(fs=0, pre_fs=0)), name="MODEL.json",
             reason=r"fs 0: the sampling rate must be a positive", command="run", exit_code=1),
        Case("sidecar-band-above-nyquist", SC, make=_sidecar_case(_patch(pre_band_hz=[0.5, 90])),
             name="MODEL.json", reason=r"band-pass .* does not fit", command="run", exit_code=1),
        Case("sidecar-window-mismatch", SC, make=_sidecar_case(_patch(window=512, pre_window=512)),
             name="MODEL.tflite", reason=r"does not match the sidecar's 512 samples", command="run",
             exit_code=1),
        Case("sidecar-thresholds", SC, make=_sidecar_case(_patch(thresholds=[0.5, 0.5])),
             name="MODEL.json", reason=r"2 thresholds for 9 classes", command="run", exit_code=1),
        Case("sidecar-not-json", SC, make=_sidecar_case(None, raw="{leads: I"),
             name="MODEL.json", reason=r"not a valid JSON sidecar", command="run", exit_code=1),
        Case("sidecar-json-list", SC, make=_sidecar_case(None, raw="[1, 2]"),
             name="MODEL.json", reason=r"a sidecar is a JSON object", command="run", exit_code=1),
        Case("sidecar-missing", SC,
             make=lambda f, k: _run(f, k.bundle(f / "m", sidecar=False, name="MODEL"),
                                    k.good(f / "data")),
             name="MODEL.json", reason=r"no sidecar for .*MODEL\.tflite", command="run",
             exit_code=1),
        # ---------------------------------------------------------------- file-system oddities
        Case("fs-header-is-directory", F, make=_fs_case(lambda d, k: (d / "BAD.hea").mkdir()),
             name="BAD", reason=r"header BAD\.hea is a directory", **ins),
        Case("fs-header-dangling-link", F, make=_fs_case(_symlink("gone.hea", "BAD.hea")),
             name="BAD", reason=r"header BAD\.hea is a dangling symbolic link", **ins),
        Case("fs-header-link-loop", F, make=_fs_case(_symlink("BAD.hea", "BAD.hea")),
             name="BAD", reason=r"header BAD\.hea is a symbolic link loop", **ins),
        Case("fs-header-directory-with-mat", F,
             make=_fs_case(lambda d, k: ((d / "BAD.hea").mkdir(),
                                         shutil.copyfile(d / "GOOD1.mat", d / "BAD.mat"))),
             name="BAD", reason=r"header BAD\.hea is a directory", **ins),
        Case("fs-upper-case-suffixes", F, make=_fs_case(_upper), name="UPPER", reason=None,
             command="inspect", kept=2, problems=0, warnings=0),
        Case("fs-header-names-other-case", F, make=_fs_case(_upper_lower_ref), name="LOWER",
             reason=None, command="inspect", kept=2, problems=0, warnings=0),
        Case("fs-orphan-signal-file", F,
             make=_fs_case(lambda d, k: shutil.copyfile(d / "GOOD1.mat", d / "LONE.mat")),
             name="LONE", reason=r"LONE\.mat has no header LONE\.hea next to it",
             command="inspect", kept=1, problems=1, warnings=0),
        Case("fs-duplicate-name", F,
             make=_fs_case(lambda d, k: k.copy(GOOD, d / "sub", "GOOD1")), name="GOOD1",
             reason=r"duplicate record name", command="inspect", kept=1, problems=1, warnings=0),
        Case("fs-only-bad-headers", F,
             make=lambda f, k: ((f / "data").mkdir(), (f / "data" / "X.hea").mkdir(),
                                _inspect(f / "data", k))[-1],
             name="X", reason=r"no records found .*header X\.hea is a directory",
             command="inspect", exit_code=1),
        # ---------------------------------------------------------------- run on records
        Case("run-upper-case-header", F,
             make=_run_records(lambda d, k: [(_upper(d, k), d / "UPPER.HEA")[1]]),
             name="UPPER", reason=r"UPPER\s+start_s", command="run", kept=2, problems=0,
             warnings=0),
        Case("run-upper-case-base-name", F,
             make=_run_records(lambda d, k: [(_upper(d, k), d / "UPPER")[1]]),
             name="UPPER", reason=r"UPPER\s+start_s", command="run", kept=2, problems=0,
             warnings=0),
        Case("run-header-is-directory", F,
             make=_run_records(lambda d, k: [((d / "DIR.hea").mkdir(), d / "DIR.hea")[1]]),
             name="DIR", reason=r"header .*DIR\.hea is a directory", command="run",
             exit_code=1, kept=1, problems=1, warnings=0),
        Case("run-matlab-v73", S,
             make=_run_records(lambda d, k: [(_write_v73(k.copy(GOOD, d, "V73").with_suffix(".mat")),
                                              d / "V73.hea")[1]]),
             name="V73", reason=r"MATLAB v7\.3 \(HDF5\)", command="run", exit_code=1, kept=1,
             problems=1, warnings=0),
        Case("run-flat-unread-leads", S,
             make=_run_records(lambda d, k: [k.copy(FLAT, d)]), name="JS20004",
             reason=r"warning: flat line in lead\(s\) V2, V4, V6 .*not read \(I, II\): ignored",
             command="run", kept=2, problems=0, warnings=1),
        Case("run-bad-age", D,
             make=_run_records(lambda d, k: [_comment_file(k.copy(GOOD, d, "AGED"), "Age", "-5")]),
             name="AGED", reason=r"warning: age '-5'", command="run", kept=2, problems=0,
             warnings=1),
        Case("inspect-strict-matlab-v73", S,
             make=lambda f, k: _signal_case(_write_v73)(f, k) + ["--strict"], name="BAD",
             reason=r"Error: BAD: BAD\.mat is a MATLAB v7\.3 \(HDF5\)", command="inspect",
             exit_code=1),
        Case("csv-matlab-v73", S, make=_csv_and_v73, name="V73", reason=r"MATLAB v7\.3 \(HDF5\)",
             command="inspect", kept=1, problems=1, warnings=0),
        Case("stream-matlab-v73", S,
             make=lambda f, k: ["stream", str(_v73_record(f / "data", k)), "--port",
                                str(f / "no-such-port")],
             name="V73", reason=r"Error: V73: V73\.mat is a MATLAB v7\.3", command="stream",
             exit_code=1),
        Case("stream-truncated-model", M,
             make=lambda f, k: ["stream", str(k.good(f / "data")), "--port", str(f / "no-port"),
                                "--model", str(k.bundle(f / "m", k.model[:5000], name="BADMODEL"))],
             name="BADMODEL.tflite", reason=r"not a valid TFLite flatbuffer", command="stream",
             exit_code=1),
        Case("sidecar-fs-zero-evaluate", SC,
             make=_sidecar_case(_patch(fs=0, pre_fs=0), command="evaluate"), name="MODEL.json",
             reason=r"fs 0: the sampling rate must be a positive", command="evaluate",
             exit_code=1),
        # ---------------------------------------------------------------- evaluate --json
        Case("evaluate-json-lists-skipped", L,
             make=lambda f, k: _evaluate_with_bad(f, k), name="BAD",
             reason=r"bad Dx: 'Unknown'", command="evaluate", problems=1, warnings=1, kept=3),
    ]
    return cases


def _v73_record(folder: Path, kit: Kit) -> Path:
    hea = kit.copy(GOOD, folder, "V73")
    _write_v73(hea.with_suffix(".mat"))
    return hea


def _csv_and_v73(folder: Path, kit: Kit) -> list[str]:
    kit.good(folder / "recs")
    _v73_record(folder / "recs", kit)
    (folder / "list.csv").write_text("path,labels\nrecs/GOOD1,164889003\nrecs/V73.mat,164889003\n")
    return _inspect(folder, kit, "csv:" + str(folder / "list.csv"))


def _comment_file(hea: Path, key: str, value: str) -> Path:
    hea.write_text(_comment(key, value)(hea.read_text()))
    return hea


def _evaluate_with_bad(folder: Path, kit: Kit) -> list[str]:
    model = kit.bundle(folder / "m")
    data = folder / "data"
    kit.good(data)
    kit.copy(GOOD, data, "GOOD2")
    _comment_file(kit.copy(GOOD, data, "BAD"), "Dx", "Unknown")
    _comment_file(kit.copy(GOOD, data, "AGED"), "Age", "abc")
    return ["evaluate", str(model), "--data", str(data), "--json",
            "--cache", str(kit.cache / folder.name)]


CASES: list[Case] = _cases()

__all__ = ["Case", "Kit", "CASES"]
