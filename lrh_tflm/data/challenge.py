"""PhysioNet/CinC Challenge 2020/2021 folders: WFDB headers with ``.mat`` (or ``.dat``) signals.

The header is parsed here rather than by ``wfdb.rdrecord`` because the Challenge files carry
quirks that wfdb refuses or mis-reads: a date/time after the sample count, a first line naming
``E00001.mat`` instead of ``E00001``, gains such as ``1000.0(0)/mv``, empty ``Dx`` lines.
Parsing is plain string work and signals are read with numpy/scipy in one vectorised step,
so listing and reading stay fast enough for tens of thousands of records.

Physical value = (digital − baseline) / gain.  Following the WFDB header specification the
baseline is the number in parentheses after the gain; when it is omitted it equals the ADC
zero (the field after the ADC resolution), which is 0 in every Challenge file.

The low-level pieces (:func:`parse_header`, :func:`read_wfdb_signal`) are shared by the
PTB-XL and CSV-list readers, so every WFDB record in the project goes through one code path.

Demographics follow one rule in every reader (:func:`read_age`, :func:`read_sex`): an age of
300 means "over 89" — PTB-XL's anonymisation, carried into the Challenge's copies of it — and
is read as 90; an empty, ``NaN`` or ``Unknown`` field is unknown without comment; anything
else that is not an age from 0 to 150 (``-5``, ``abc``, ``inf``, ``200``) or a sex other than
M/F/Male/Female/Unknown is read as unknown *and* noted on the record (:attr:`Record.notes`),
so the commands report and count it while keeping the record.  ``Dx`` codes are SNOMED CT
concept ids (digits only); anything else there is a problem with the record.
"""
from __future__ import annotations

import errno
import math
import os
import re
import struct
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import scipy.io
from scipy.io.matlab import MatReadError

from lrh_tflm.data.record import DatasetError, Problem, Record, RecordError, RecordRef
from lrh_tflm.leads import LeadError, canonical_name

#: Files that hold WFDB/Challenge signal samples; one of these without a header is reported.
SIGNAL_SUFFIXES: tuple[str, ...] = (".mat", ".dat")

# format[xsamples_per_frame][:skew][+byte_offset], e.g. "16", "16+24", "16x1+24", "212"
_FORMAT_RE = re.compile(r"^(\d+)(?:x(\d+))?(?::(\d+))?(?:\+(\d+))?$")
# gain[(baseline)][/units], e.g. "1000/mV", "1000.0(0)/mv", "200", "4880(-12)"
_GAIN_RE = re.compile(r"^([-+]?[0-9]*\.?[0-9]+(?:[eE][-+]?\d+)?)(?:\((-?\d+)\))?(?:/(\S*))?$")

#: Millivolts per physical unit for the voltage units we accept (case-insensitive).
_MV_PER_UNIT = {"mv": 1.0, "uv": 1e-3, "µv": 1e-3, "μv": 1e-3, "v": 1e3, "nv": 1e-6}

#: numpy dtype and offset of the WFDB formats read natively (sample = raw - offset).
_SIMPLE_FORMATS: dict[str, tuple[str, int]] = {
    "16": ("<i2", 0), "61": (">i2", 0), "80": ("u1", 128), "160": ("<u2", 32768),
    "32": ("<i4", 0),
}
_NATIVE_FORMATS = {"16", "61", "80", "160", "32", "212"}

_SEX = {"m": "M", "male": "M", "f": "F", "female": "F"}
#: Spellings of "not known" in age and sex fields: unknown, and nothing to report.
_UNKNOWN = {"", "nan", "unknown", "none", "n/a", "na", "?"}
#: PTB-XL (and the Challenge's copy of it) writes every age over 89 as 300.
AGE_OVER_89 = 300.0
#: ... which is read as 90, the youngest age it can stand for.
AGE_OVER_89_READ_AS = 90.0
#: Older than this is not a human age (other than the 300 code): read as unknown, noted.
MAX_AGE = 150.0
#: A SNOMED CT concept id: digits only (the Challenge's Dx codes, e.g. 426783006).
_SNOMED_RE = re.compile(r"^\d+$")


@dataclass(frozen=True)
class SignalSpec:
    """One signal line of a WFDB header."""

    file: str
    """Signal file name, relative to the header's folder."""
    fmt: str
    """WFDB storage format (``"16"``, ``"212"``, …)."""
    samples_per_frame: int
    skew: int
    byte_offset: int
    gain: float
    """ADC units per physical unit."""
    baseline: int
    """ADC value of 0 physical units."""
    mv_per_unit: float
    """Millivolts per physical unit (1 for mV, 1e-3 for µV)."""
    description: str
    """Lead name as written in the header."""


@dataclass(frozen=True)
class Header:
    """A parsed WFDB header with the Challenge's comment fields."""

    name: str
    """Record name from the first line, without a ``.mat``/``.dat`` suffix."""
    fs: float
    n_samples: int | None
    """Samples per signal, or ``None`` when the header omits it."""
    signals: tuple[SignalSpec, ...]
    comments: tuple[str, ...]
    """Comment lines without the leading ``#``, stripped."""
    age: float | None
    sex: str | None
    dx: tuple[str, ...] | None
    """SNOMED codes of the ``Dx`` line; ``()`` for an empty line, ``None`` without one."""
    age_note: str | None = None
    """Why the ``Age`` field was read as unknown (:func:`read_age`), if it was not plainly so."""
    sex_note: str | None = None
    """Why the ``Sex`` field was read as unknown (:func:`read_sex`)."""
    bad_dx: tuple[str, ...] = ()
    """Items of the ``Dx`` line that are not SNOMED CT codes (left out of :attr:`dx`)."""

    @property
    def leads(self) -> tuple[str, ...]:
        return tuple(s.description for s in self.signals)


def read_age(text: str | float | None) -> tuple[float | None, str | None]:
    """Age in years from a header, CSV or database field, and a note when it is not usable.

    Returns
    -------
    (age, note)
        ``age`` is ``None`` when unknown.  300 is PTB-XL's code for "over 89" and reads as
        :data:`AGE_OVER_89_READ_AS` (90), without a note.  Empty, ``NaN``, ``Unknown``: unknown,
        no note.  Anything else that is not a number from 0 to :data:`MAX_AGE` (negative,
        ``inf``, text, 200): unknown, with ``note`` saying what was there.
    """
    if text is None:
        return None, None
    raw = str(text).strip()
    if raw.lower() in _UNKNOWN:
        return None, None
    try:
        value = float(raw)
    except ValueError:
        return None, f"age {raw!r} is not a number of years: age read as unknown"
    if value == AGE_OVER_89:
        return AGE_OVER_89_READ_AS, None
    if not math.isfinite(value) or not 0 <= value <= MAX_AGE:
        return None, (f"age {raw!r} is not an age from 0 to {MAX_AGE:g} years (300 would mean "
                      "over 89): age read as unknown")
    return value, None


def read_sex(text: str | None) -> tuple[str | None, str | None]:
    """``("M" | "F" | None, note)`` from Male/Female/M/F (any case); ``Unknown``, ``NaN`` or
    empty are unknown without a note, anything else is unknown with one."""
    if text is None:
        return None, None
    raw = str(text).strip()
    if raw.lower() in _UNKNOWN:
        return None, None
    sex = _SEX.get(raw.lower())
    if sex is None:
        return None, f"sex {raw!r} is not M/F/Male/Female/Unknown: sex read as unknown"
    return sex, None


def is_snomed_code(code: str) -> bool:
    """Whether ``code`` looks like a SNOMED CT concept id (digits only)."""
    return bool(_SNOMED_RE.match(code))


def split_codes(text: str) -> tuple[str, ...]:
    """Split a label field on commas, semicolons or whitespace, dropping empty items."""
    return tuple(c for c in re.split(r"[,;\s]+", text.strip()) if c)


def _int(field: str, what: str, record: str) -> int:
    try:
        return int(field)
    except ValueError:
        raise RecordError(record, f"bad header: {what} {field!r} is not an integer") from None


def _parse_signal_line(line: str, index: int, record: str) -> SignalSpec:
    fields = line.split()
    if len(fields) < 3:
        raise RecordError(record, f"bad header: signal line {index + 1} has {len(fields)} field(s), "
                                  f"needs at least file, format and gain: {line!r}")
    m = _FORMAT_RE.match(fields[1])
    if not m:
        raise RecordError(record, f"bad header: signal {index + 1} format {fields[1]!r} is not a WFDB format")
    fmt, spf, skew, offset = m.group(1), m.group(2), m.group(3), m.group(4)
    g = _GAIN_RE.match(fields[2])
    if not g:
        raise RecordError(record, f"bad header: signal {index + 1} gain {fields[2]!r} is not a number")
    gain = float(g.group(1))
    if not math.isfinite(gain) or gain <= 0:
        raise RecordError(record, f"bad header: signal {index + 1} has gain {fields[2]!r}; "
                                  "the gain must be positive")
    units = (g.group(3) or "mV").strip().lower()
    if units not in _MV_PER_UNIT:
        raise RecordError(record, f"signal {index + 1} is in {g.group(3)!r}, not a voltage unit")
    adc_zero = _int(fields[4], f"signal {index + 1} ADC zero", record) if len(fields) > 4 else 0
    if len(fields) > 3:
        _int(fields[3], f"signal {index + 1} ADC resolution", record)
    baseline = int(g.group(2)) if g.group(2) is not None else adc_zero
    description = " ".join(fields[8:]) if len(fields) > 8 else ""
    if not description:
        raise RecordError(record, f"bad header: signal {index + 1} has no lead name")
    return SignalSpec(file=fields[0], fmt=fmt, samples_per_frame=int(spf or 1), skew=int(skew or 0),
                      byte_offset=int(offset or 0), gain=gain, baseline=baseline,
                      mv_per_unit=_MV_PER_UNIT[units], description=description)


def parse_header(text: str, record: str) -> Header:
    """Parse the text of a WFDB header, tolerating the Challenge's quirks.

    Parameters
    ----------
    text
        Header file contents.
    record
        Record name used in error messages.

    Returns
    -------
    Header

    Raises
    ------
    RecordError
        Empty or truncated header, unparseable numbers, non-positive rate or gain,
        non-voltage units, multi-segment records.
    """
    lines = [ln.strip() for ln in text.splitlines()]
    comments = tuple(ln[1:].strip() for ln in lines if ln.startswith("#"))
    body = [ln for ln in lines if ln and not ln.startswith("#")]
    if not body:
        raise RecordError(record, "bad header: no record line (empty or comment-only file)")
    first = body[0].split()
    if len(first) < 2:
        raise RecordError(record, f"bad header: record line {body[0]!r} lacks the number of signals")
    name = first[0]
    if "/" in name:
        raise RecordError(record, "multi-segment WFDB records are not supported")
    for suffix in SIGNAL_SUFFIXES:
        if name.lower().endswith(suffix):
            name = name[: -len(suffix)]
    n_signals = _int(first[1], "number of signals", record)
    if n_signals <= 0:
        raise RecordError(record, f"bad header: {n_signals} signals")
    if len(first) < 3:
        raise RecordError(record, "bad header: no sampling frequency on the record line")
    try:
        fs = float(first[2].split("/")[0])
    except ValueError:
        raise RecordError(record, f"bad header: sampling frequency {first[2]!r} is not a number") from None
    if not math.isfinite(fs) or fs <= 0:
        raise RecordError(record, f"bad header: sampling frequency {first[2]} Hz must be positive")
    n_samples = _int(first[3], "number of samples", record) if len(first) > 3 else None
    if n_samples is not None and n_samples <= 0:
        raise RecordError(record, f"bad header: {n_samples} samples per signal")
    if len(body) - 1 < n_signals:
        raise RecordError(record, f"truncated header: declares {n_signals} signals but has "
                                  f"{len(body) - 1} signal line(s)")
    signals = tuple(_parse_signal_line(body[1 + i], i, record) for i in range(n_signals))

    fields: dict[str, str] = {}
    for c in comments:
        key, sep, value = c.partition(":")
        if sep:
            fields.setdefault(key.strip().lower(), value.strip())
    dx, bad_dx = None, ()
    if "dx" in fields:
        items = split_codes(fields["dx"])
        dx = tuple(c for c in items if is_snomed_code(c))
        bad_dx = tuple(c for c in items if not is_snomed_code(c))
    age, age_note = read_age(fields.get("age"))
    sex, sex_note = read_sex(fields.get("sex"))
    return Header(name=name, fs=fs, n_samples=n_samples, signals=signals, comments=comments,
                  age=age, sex=sex, dx=dx, age_note=age_note, sex_note=sex_note, bad_dx=bad_dx)


def read_header(path: Path, record: str | None = None) -> Header:
    """Read and parse a ``.hea`` file; any problem is a :class:`RecordError`."""
    path = Path(path)
    record = record or path.stem
    if not path.is_file():
        raise RecordError(record, f"header {path.name} {not_a_file(path)}")
    try:
        text = path.read_text(encoding="utf-8", errors="replace")
    except OSError as err:
        raise RecordError(record, f"cannot read header {path.name}: {err.strerror or err}") from None
    return parse_header(text, record)


def not_a_file(path: Path) -> str:
    """What ``path`` is, when it is not a readable regular file: "does not exist", "is a
    directory", "is a dangling symbolic link to …", "is a symbolic link loop", …"""
    path = Path(path)
    if path.is_symlink():
        try:
            target = os.readlink(path)
        except OSError:
            target = "?"
        try:
            path.stat()
        except OSError as err:
            if err.errno == errno.ELOOP:
                return "is a symbolic link loop"
            return f"is a dangling symbolic link (to {target}, which does not exist)"
        if path.is_dir():
            return f"is a symbolic link to a directory ({target}), not a file"
    if path.is_dir():
        return "is a directory, not a file"
    if path.exists():
        return "is not a regular file (a device, pipe or socket)"
    return "not found"


def find_file(path: Path) -> Path | None:
    """``path`` if it is a file, else the one file in its folder whose name matches it
    ignoring case (``E01.MAT`` for ``E01.mat``), else ``None``.

    Headers and file systems disagree about case (records copied from a Windows or macOS
    disk keep ``.HEA``/``.MAT``); a unique case-insensitive match is what the user meant.
    """
    path = Path(path)
    if path.is_file():
        return path
    try:
        names = os.listdir(path.parent)
    except OSError:
        return None
    matches = [n for n in names if n.lower() == path.name.lower() and (path.parent / n).is_file()]
    return path.parent / matches[0] if len(matches) == 1 else None


def _read_mat(path: Path, record: str) -> np.ndarray:
    """The ``val`` matrix of a Challenge ``.mat`` file (signals × samples)."""
    _check_mat_header(path, record)
    try:
        data = scipy.io.loadmat(str(path), variable_names=["val"])
    except NotImplementedError:
        # scipy's answer to a v7.3 file (HDF5 inside), should the header check miss one.
        raise RecordError(record, f"{path.name} is a MATLAB v7.3 (HDF5) .mat, which is not "
                                  "supported; save it as a v5 or v4 .mat") from None
    except MemoryError:
        raise RecordError(record, f"unreadable {path.name}: its header claims more data than "
                                  "can be allocated (corrupt file)") from None
    # scipy signals a corrupt or truncated MAT file with any of these, depending on where
    # the damage is; each one means "this file is unreadable".
    except (MatReadError, ValueError, TypeError, OSError, EOFError, IndexError, KeyError,
            struct.error, OverflowError) as err:
        # scipy appends advice about whosmat/variable_names after a ";": not for our users.
        raise RecordError(record, f"unreadable {path.name}: {str(err).split(';')[0]}") from None
    val = data.get("val")
    if val is None:
        raise RecordError(record, f"{path.name} has no variable 'val'")
    val = np.asarray(val)
    if val.ndim != 2 or val.dtype.kind not in "iuf":
        raise RecordError(record, f"{path.name}: 'val' is a {val.dtype} array of shape {val.shape}, "
                                  "expected a numeric signals × samples matrix")
    return val


#: Bytes per element of the MATLAB v4 precision digit P (the "MOPT" type's tens digit).
_V4_ELEMENT_BYTES = {0: 8, 1: 4, 2: 4, 3: 2, 4: 2, 5: 1}


def _check_mat_header(path: Path, record: str) -> None:
    """Refuse, before scipy reads them, the .mat files it cannot or should not read.

    scipy takes a file whose first four bytes hold a zero for v4, else reads the version at
    bytes 124–127 (v5 is 1, v7.3 — HDF5 inside — is 2, which scipy refuses with a
    ``NotImplementedError``).  A v7.3 file is named as such; a v4 file's matrix headers are
    checked against the file size, because scipy allocates what a header claims
    (``0x7FFFFFFF`` columns: a ``MemoryError``) before finding the data missing.
    """
    try:
        size = path.stat().st_size
        with open(path, "rb") as fh:
            head = fh.read(128)
            if len(head) < 4:
                return  # scipy reports an empty or tiny file itself
            if 0 not in head[:4]:
                if len(head) == 128:
                    major = head[124 + (head[126:127] == b"I")]
                    if major == 2:
                        raise RecordError(record, f"{path.name} is a MATLAB v7.3 (HDF5) .mat, "
                                                  "which is not supported; save it as a v5 or "
                                                  "v4 .mat")
                return  # v5: scipy checks its element sizes against the data it reads
            offset = 0
            while offset < size:
                fh.seek(offset)
                raw = fh.read(20)
                if len(raw) < 20:
                    raise RecordError(record, f"unreadable {path.name}: truncated MATLAB v4 "
                                              f"matrix header at byte {offset}")
                for endian in "<>":
                    mopt, mrows, ncols, imagf, namlen = struct.unpack(endian + "5i", raw)
                    if 0 <= mopt < 5000:
                        break
                else:
                    return  # not a v4 header after all: scipy says what it is
                precision = (mopt % 100) // 10
                if (mrows < 0 or ncols < 0 or not 0 < namlen <= 4096 or imagf not in (0, 1)
                        or precision not in _V4_ELEMENT_BYTES):
                    raise RecordError(record, f"unreadable {path.name}: corrupt MATLAB v4 "
                                              f"matrix header at byte {offset} ({mrows} × "
                                              f"{ncols}, name length {namlen})")
                data = mrows * ncols * _V4_ELEMENT_BYTES[precision] * (2 if imagf else 1)
                end = offset + 20 + namlen + data
                if end > size:
                    raise RecordError(record, f"unreadable {path.name}: its MATLAB v4 header "
                                              f"claims a {mrows} × {ncols} matrix ({data:,} "
                                              f"bytes) but the file has {size:,} bytes")
                offset = end
    except OSError as err:
        raise RecordError(record, f"unreadable {path.name}: {err.strerror or err}") from None


def _read_dat(path: Path, specs: list[SignalSpec], n_samples: int | None, record: str) -> np.ndarray:
    """Samples of the signals stored interleaved in one ``.dat`` file (signals × samples)."""
    fmt = specs[0].fmt
    n = len(specs)
    offset = specs[0].byte_offset
    try:
        raw = np.fromfile(path, dtype=np.uint8, offset=offset)
    except (OSError, ValueError) as err:
        raise RecordError(record, f"unreadable {path.name}: {err}") from None
    if fmt == "212":
        # Two 12-bit two's-complement samples packed into three bytes.
        usable = raw[: raw.size // 3 * 3].reshape(-1, 3).astype(np.int16)
        flat = np.empty(usable.shape[0] * 2, dtype=np.int16)
        flat[0::2] = usable[:, 0] | ((usable[:, 1] & 0x0F) << 8)
        flat[1::2] = usable[:, 2] | ((usable[:, 1] & 0xF0) << 4)
        flat[flat > 2047] -= 4096
    else:
        dtype, zero = _SIMPLE_FORMATS[fmt]
        dt = np.dtype(dtype)
        flat = raw[: raw.size // dt.itemsize * dt.itemsize].view(dt).astype(np.int32) - zero
    frames = flat.size // n
    if n_samples is not None:
        if frames < n_samples:
            raise RecordError(record, f"short {path.name}: holds {frames} samples per signal, "
                                      f"header declares {n_samples}")
        frames = n_samples
    return flat[: frames * n].reshape(frames, n).T


def _read_with_wfdb(hea_path: Path, header: Header, record: str) -> np.ndarray:
    """Digital samples of an exotic WFDB record (formats, frames, skew we do not parse)."""
    import wfdb  # only needed for rare formats; keeps the common path import-light

    try:
        rec = wfdb.rdrecord(str(hea_path.with_suffix("")), physical=False, smooth_frames=True)
    # wfdb raises assorted built-in exceptions for files it cannot parse.
    except (ValueError, OSError, IndexError, KeyError, TypeError, AttributeError) as err:
        raise RecordError(record, f"wfdb could not read the signal: {err}") from None
    return np.asarray(rec.d_signal).T


def read_wfdb_signal(hea_path: Path, header: Header, record: str | None = None) -> np.ndarray:
    """Read the samples a header describes and convert them to millivolts.

    Parameters
    ----------
    hea_path
        The header file; signal files are resolved relative to its folder.
    header
        The parsed header (:func:`read_header`).
    record
        Record name for error messages (default: the header's stem).

    Returns
    -------
    numpy.ndarray
        float32, signals × samples, millivolts.

    Raises
    ------
    RecordError
        Missing or unreadable signal file, fewer samples or signals than declared,
        NaN/inf samples.
    """
    hea_path = Path(hea_path)
    record = record or hea_path.stem
    folder = hea_path.parent
    groups: dict[str, list[int]] = {}
    for i, s in enumerate(header.signals):
        groups.setdefault(s.file, []).append(i)
    n_sig = len(header.signals)
    # (signal indices, their samples as rows) per signal file
    parts: list[tuple[list[int], np.ndarray]] = []

    exotic = any(s.fmt not in _NATIVE_FORMATS or s.samples_per_frame != 1 or s.skew
                 for s in header.signals if not s.file.lower().endswith(".mat"))
    if exotic:
        parts.append((list(range(n_sig)), _read_with_wfdb(hea_path, header, record)))
    else:
        for fname, idx in groups.items():
            path = find_file(folder / fname)
            if path is None:
                what = not_a_file(folder / fname)
                raise RecordError(record, f"missing signal file {fname}" if what == "not found"
                                  else f"signal file {fname} {what}")
            specs = [header.signals[i] for i in idx]
            if fname.lower().endswith(".mat"):
                block = _read_mat(path, record)
                if block.shape[0] != len(idx):
                    raise RecordError(record, f"{'short ' if block.shape[0] < len(idx) else ''}"
                                              f"{fname}: holds {block.shape[0]} signal(s), header "
                                              f"declares {len(idx)}")
                if header.n_samples is not None and block.shape[1] != header.n_samples:
                    short = "short " if block.shape[1] < header.n_samples else ""
                    raise RecordError(record, f"{short}{fname}: holds {block.shape[1]} samples per "
                                              f"signal, header declares {header.n_samples}")
            else:
                block = _read_dat(path, specs, header.n_samples, record)
            parts.append((idx, block))

    lengths = {block.shape[1] for _, block in parts}
    if len(lengths) != 1:
        raise RecordError(record, f"signal files hold different lengths {sorted(lengths)}")
    # One float32 buffer, filled and scaled in place: this runs for every record of a
    # dataset, so float64 temporaries and per-row copies would dominate the read time.
    signal = np.empty((n_sig, lengths.pop()), dtype=np.float32)
    for idx, block in parts:
        if idx == list(range(idx[0], idx[0] + len(idx))):
            signal[idx[0]: idx[0] + len(idx)] = block
        else:
            signal[idx] = block
    if any(block.dtype.kind == "f" for _, block in parts):
        finite = np.isfinite(signal).all(axis=1)
        if not finite.all():
            raise RecordError(record, "NaN or infinite samples in lead(s) " + ", ".join(
                header.signals[i].description for i in np.flatnonzero(~finite)))
    baseline = np.array([s.baseline for s in header.signals], dtype=np.float32)
    if baseline.any():
        signal -= baseline[:, None]
    signal *= np.array([s.mv_per_unit / s.gain for s in header.signals], dtype=np.float32)[:, None]
    return signal


def canonical_leads(header: Header, record: str) -> tuple[str, ...]:
    """Canonical lead names of a header's signals; unknown or repeated names are a RecordError."""
    try:
        leads = tuple(canonical_name(s.description) for s in header.signals)
    except LeadError as err:
        raise RecordError(record, str(err)) from None
    if len(set(leads)) != len(leads):
        raise RecordError(record, f"lead names repeat: {', '.join(leads)}")
    return leads


def read_challenge_record(hea_path: Path, *, name: str | None = None, require_labels: bool = True,
                          labels: tuple[str, ...] | None = None, age: float | None = None,
                          sex: str | None = None, fold: int | None = None) -> Record:
    """Read one WFDB/Challenge record into a :class:`Record`.

    Parameters
    ----------
    hea_path
        Path of the ``.hea`` file.
    name
        Record name (default: the header file's stem).
    require_labels
        Raise when the record has no labels (no or empty ``Dx`` line, or empty ``labels``).
    labels, age, sex
        Values from an external list (CSV, database) that override the header's comments;
        ``None`` keeps the header's value.
    fold
        Official fold, stored on the record.

    Raises
    ------
    RecordError
        For every problem with the record; the reason names it.
    """
    hea_path = Path(hea_path)
    record = name or hea_path.stem
    header = read_header(hea_path, record)
    leads = canonical_leads(header, record)
    notes: list[str] = []
    if labels is None:
        if header.dx is None and require_labels:
            raise RecordError(record, "no labels: the header has no Dx line")
        if header.bad_dx:
            bad = ", ".join(repr(c) for c in header.bad_dx)
            verb = "is not a SNOMED CT code" if len(header.bad_dx) == 1 else \
                "are not SNOMED CT codes"
            reason = f"bad Dx: {bad} {verb} (digits only)"
            if require_labels:
                raise RecordError(record, reason)
            notes.append(reason + "; left out")
        labels = header.dx or ()
    if not labels and require_labels:
        raise RecordError(record, "no labels: the Dx line is empty")
    if age is None and header.age_note:
        notes.append(header.age_note)
    if sex is None and header.sex_note:
        notes.append(header.sex_note)
    signal = read_wfdb_signal(hea_path, header, record)
    return Record(name=record, signal=signal, fs=header.fs, leads=leads, labels=tuple(labels),
                  age=header.age if age is None else age, sex=header.sex if sex is None else sex,
                  path=hea_path, fold=fold, notes=tuple(notes))


class ChallengeSource:
    """A folder of PhysioNet/CinC Challenge records, searched recursively.

    Parameters
    ----------
    root
        The folder.
    require_labels
        Records without SNOMED codes are errors (default); ``False`` reads them with ``labels=()``.
    spec
        The spec string the user gave (for messages); default ``"challenge:ROOT"``.

    Raises
    ------
    DatasetError
        The folder does not exist or contains no ``.hea`` file.
    """

    kind = "challenge"

    def __init__(self, root: Path, *, require_labels: bool = True, spec: str | None = None):
        self.root = Path(root)
        self.spec = spec or f"challenge:{self.root}"
        self.require_labels = require_labels
        if not self.root.is_dir():
            raise DatasetError(f"dataset folder {self.root} does not exist")
        self._refs, self._problems = self._list()
        if not self._refs:
            detail = "; ".join(str(p) for p in self._problems[:3])
            raise DatasetError(f"no records found in {self.root} "
                               + (f"({detail})" if detail else "(no .hea header files)"))

    def _list(self) -> tuple[list[RecordRef], list[Problem]]:
        headers: dict[str, Path] = {}
        problems: list[Problem] = []
        signal_files: list[Path] = []
        # (folder, lower-case stem) of every header entry, usable or not: a signal file
        # beside one is not "without a header" (a .HEA, or a header that is reported).
        header_keys: set[tuple[Path, str]] = set()
        for path in sorted(self.root.rglob("*")):
            # Hidden files and folders (editor backups, half-written temporary datasets) are
            # never records.
            if any(part.startswith(".") for part in path.relative_to(self.root).parts):
                continue
            suffix = path.suffix.lower()
            if suffix != ".hea" and suffix not in SIGNAL_SUFFIXES:
                continue
            if suffix == ".hea":
                header_keys.add((path.parent, path.stem.lower()))
                if not path.is_file():
                    # A folder, a dangling link or a link loop named like a header: say which.
                    problems.append(Problem(path.stem, f"header {path.relative_to(self.root)} "
                                                       f"{not_a_file(path)}"))
                    continue
                if path.stem in headers:
                    problems.append(Problem(path.stem, f"duplicate record name: {path} and "
                                                       f"{headers[path.stem]}; the first is used"))
                    continue
                headers[path.stem] = path
            elif path.is_file():
                signal_files.append(path)
        for path in signal_files:
            if (path.parent, path.stem.lower()) not in header_keys:
                problems.append(Problem(path.stem, f"{path.name} has no header "
                                                   f"{path.stem}.hea next to it"))
        refs = [RecordRef(name=n, path=p) for n, p in sorted(headers.items())]
        return refs, problems

    def refs(self) -> list[RecordRef]:
        """Every header found, sorted by record name."""
        return list(self._refs)

    def listing_problems(self) -> list[Problem]:
        """Signal files without a header and duplicate record names."""
        return list(self._problems)

    def read(self, ref: RecordRef) -> Record:
        """Read one record; any problem with it is a :class:`RecordError`."""
        return read_challenge_record(ref.path, name=ref.name, require_labels=self.require_labels,
                                     fold=ref.get("fold"))

    def __repr__(self) -> str:
        return f"ChallengeSource({str(self.root)!r}, records={len(self._refs)})"
