"""PTB-XL in its native layout: ``ptbxl_database.csv``, ``scp_statements.csv``, ``records100/``, ``records500/``.

Labels follow the PTB-XL benchmark (Strodthoff et al. 2020):

* ``superdiagnostic``: every SCP code of a record whose statement has ``diagnostic == 1``
  maps to its ``diagnostic_class`` (NORM, MI, STTC, CD, HYP).  As in the benchmark, all codes
  of a record count whatever their likelihood: rhythm and form statements carry a likelihood
  of 0 in PTB-XL, so a "likelihood > 0" filter would silently drop them.
* ``rhythm``: the record's codes whose statement has ``rhythm == 1`` (SR, AFIB, …).

Official folds (``strat_fold``): 1–8 train, 9 validation, 10 test.  Signals are WFDB
format-16 ``.dat`` files read through the same WFDB reader as the Challenge folders
(:func:`lrh_tflm.data.challenge.read_wfdb_signal`), whose output matches ``wfdb.rdsamp``.
"""
from __future__ import annotations

import ast
import csv
from pathlib import Path

from lrh_tflm.data.challenge import canonical_leads, read_header, read_wfdb_signal
from lrh_tflm.data.labels import ClassSpace
from lrh_tflm.data.record import DatasetError, Problem, Record, RecordError, RecordRef

#: Classes of each label set, in the benchmark's order.
PTBXL_LABEL_SETS: dict[str, tuple[str, ...]] = {
    "superdiagnostic": ("NORM", "MI", "STTC", "CD", "HYP"),
    "rhythm": ("SR", "AFIB", "STACH", "SARRH", "SBRAD", "PACE", "SVARR", "BIGU", "AFLT",
               "SVTAC", "PSVT", "TRIGU"),
}

#: Sampling rates PTB-XL ships, and the database column naming each rate's files.
_RATE_COLUMN = {500: "filename_hr", 100: "filename_lr"}

#: PTB-XL writes ages above 89 as 300 (anonymisation); we read them as 90.
_AGE_CAP = 90.0

_DATABASE_COLUMNS = ("ecg_id", "scp_codes", "strat_fold", "filename_lr", "filename_hr", "age", "sex")


def ptbxl_class_space(label_set: str) -> ClassSpace:
    """The :class:`ClassSpace` of a PTB-XL label set (class names double as abbreviations).

    Raises
    ------
    ValueError
        Unknown label set.
    """
    names = PTBXL_LABEL_SETS.get(label_set)
    if names is None:
        raise ValueError(f"unknown PTB-XL label set {label_set!r}; choose one of "
                         f"{', '.join(PTBXL_LABEL_SETS)}")
    return ClassSpace(classes=names, abbreviations=names)


def official_split(fold: int) -> str:
    """``"train"`` for PTB-XL folds 1–8, ``"val"`` for 9, ``"test"`` for 10.

    Raises
    ------
    ValueError
        A fold outside 1–10.
    """
    fold = int(fold)
    if 1 <= fold <= 8:
        return "train"
    if fold == 9:
        return "val"
    if fold == 10:
        return "test"
    raise ValueError(f"PTB-XL folds are 1–10, got {fold}")


def _is_one(text: str) -> bool:
    try:
        return float(text) == 1.0
    except (TypeError, ValueError):
        return False


def _read_csv(path: Path) -> list[dict[str, str]]:
    try:
        with open(path, newline="", encoding="utf-8") as fh:
            return list(csv.DictReader(fh))
    except FileNotFoundError:
        raise DatasetError(f"{path.name} not found in {path.parent}: not a PTB-XL folder") from None
    except (OSError, UnicodeDecodeError, csv.Error) as err:
        raise DatasetError(f"cannot read {path}: {err}") from None


def _statement_maps(path: Path, label_set: str) -> dict[str, str]:
    """SCP code → label for the chosen label set, from ``scp_statements.csv``."""
    rows = _read_csv(path)
    if not rows:
        raise DatasetError(f"{path} lists no statements")
    code_col = next(iter(rows[0]))  # the first column (unnamed in PTB-XL) holds the code
    needed = ("diagnostic", "diagnostic_class") if label_set == "superdiagnostic" else ("rhythm",)
    missing = [c for c in needed if c not in rows[0]]
    if missing:
        raise DatasetError(f"{path} lacks column(s) {', '.join(missing)}")
    out: dict[str, str] = {}
    for row in rows:
        code = (row[code_col] or "").strip()
        if label_set == "superdiagnostic":
            cls = (row["diagnostic_class"] or "").strip()
            if _is_one(row["diagnostic"]) and cls:
                out[code] = cls
        elif _is_one(row["rhythm"]):
            out[code] = code
    return out


def _order(labels: set[str], label_set: str) -> tuple[str, ...]:
    known = PTBXL_LABEL_SETS[label_set]
    return tuple(c for c in known if c in labels) + tuple(sorted(labels - set(known)))


class PTBXLSource:
    """PTB-XL, read from its database CSV and WFDB record folders.

    Parameters
    ----------
    root
        The folder holding ``ptbxl_database.csv``.
    labels
        Label set: ``"superdiagnostic"`` or ``"rhythm"``.
    rate
        500 or 100 Hz; falls back to the other rate when only that folder exists.
    require_labels
        Records without a label of the chosen set are errors (default); ``False`` reads them
        with ``labels=()``.
    spec
        The spec string the user gave (for messages).

    Raises
    ------
    DatasetError
        Missing database/statement files or columns, no record folder, no records.
    ValueError
        Unknown label set or rate.
    """

    kind = "ptbxl"

    def __init__(self, root: Path, *, labels: str = "superdiagnostic", rate: int = 500,
                 require_labels: bool = True, spec: str | None = None):
        self.root = Path(root)
        self.spec = spec or f"ptbxl:{self.root}"
        ptbxl_class_space(labels)  # validates the name
        if rate not in _RATE_COLUMN:
            raise ValueError(f"PTB-XL has 100 and 500 Hz records, not {rate}")
        self.label_set = labels
        self.require_labels = require_labels
        if not self.root.is_dir():
            raise DatasetError(f"dataset folder {self.root} does not exist")
        folders = {r: (self.root / f"records{r}").is_dir() for r in _RATE_COLUMN}
        if not folders[rate]:
            other = next(r for r in _RATE_COLUMN if r != rate)
            if not folders[other]:
                raise DatasetError(f"no records500/ or records100/ folder in {self.root}")
            rate = other
        self.rate = rate
        self._refs, self._problems = self._list()
        if not self._refs:
            raise DatasetError(f"no records found in {self.root / 'ptbxl_database.csv'}")

    def _list(self) -> tuple[list[RecordRef], list[Problem]]:
        db = self.root / "ptbxl_database.csv"
        rows = _read_csv(db)
        if rows:
            missing = [c for c in _DATABASE_COLUMNS if c not in rows[0]]
            if missing:
                raise DatasetError(f"{db} lacks column(s) {', '.join(missing)}")
        mapping = _statement_maps(self.root / "scp_statements.csv", self.label_set)
        refs: list[RecordRef] = []
        problems: list[Problem] = []
        for line, row in enumerate(rows, start=2):
            raw_id = (row["ecg_id"] or "").strip()
            try:
                ecg_id = int(float(raw_id))
            except ValueError:
                problems.append(Problem(f"row {line}", f"ecg_id {raw_id!r} is not a number"))
                continue
            name = f"{ecg_id:05d}"
            try:
                codes = ast.literal_eval(row["scp_codes"])
                if not isinstance(codes, dict):
                    raise ValueError("not a dict")
                fold = int(float(row["strat_fold"]))
            except (ValueError, SyntaxError, TypeError) as err:
                problems.append(Problem(name, f"unreadable scp_codes/strat_fold in {db.name} "
                                              f"row {line}: {err}"))
                continue
            labels = _order({mapping[c] for c in codes if c in mapping}, self.label_set)
            age = _parse_float(row["age"])
            if age is not None and age > _AGE_CAP:
                age = _AGE_CAP
            sex = {"0": "M", "1": "F"}.get(str(_parse_int(row["sex"])))
            filename = (row[_RATE_COLUMN[self.rate]] or "").strip()
            if not filename:
                problems.append(Problem(name, f"no {_RATE_COLUMN[self.rate]} in {db.name} row {line}"))
                continue
            path = self.root / (filename + ".hea")
            refs.append(RecordRef(name=name, path=path, meta=(
                ("labels", labels), ("age", age), ("sex", sex), ("fold", fold))))
        refs.sort(key=lambda r: r.name)
        return refs, problems

    def class_space(self, name: str, codes_seen=()) -> ClassSpace:
        """The class space for a label-space name (``LabelConfig.space``).

        ``"scored"`` (the default, meaningful only for Challenge data) and this source's label
        set give the label set's fixed classes; ``"all"`` gives the labels seen, in the label
        set's order.

        Raises
        ------
        DatasetError
            Another PTB-XL label set than the one the records were labelled with, or an
            unknown name.
        """
        if name in ("scored", self.label_set):
            return ptbxl_class_space(self.label_set)
        if name == "all":
            seen = _order({str(c) for c in codes_seen}, self.label_set)
            return ClassSpace(classes=seen, abbreviations=seen)
        raise DatasetError(f"label space {name!r} does not fit {self.spec}, whose records carry "
                           f"{self.label_set} labels (use {self.label_set!r} or 'all')")

    def refs(self) -> list[RecordRef]:
        """Every row of the database, sorted by zero-padded ``ecg_id``."""
        return list(self._refs)

    def listing_problems(self) -> list[Problem]:
        """Database rows that could not be understood."""
        return list(self._problems)

    def read(self, ref: RecordRef) -> Record:
        """Read one record; any problem with it is a :class:`RecordError`."""
        labels = tuple(ref.get("labels", ()))
        if not labels and self.require_labels:
            raise RecordError(ref.name, f"no labels in the PTB-XL {self.label_set} set")
        header = read_header(ref.path, ref.name)
        leads = canonical_leads(header, ref.name)
        signal = read_wfdb_signal(ref.path, header, ref.name)
        return Record(name=ref.name, signal=signal, fs=header.fs, leads=leads, labels=labels,
                      age=ref.get("age"), sex=ref.get("sex"), path=ref.path, fold=ref.get("fold"))

    def __repr__(self) -> str:
        return (f"PTBXLSource({str(self.root)!r}, labels={self.label_set!r}, rate={self.rate}, "
                f"records={len(self._refs)})")


def _parse_float(text: str | None) -> float | None:
    try:
        value = float(text)
    except (TypeError, ValueError):
        return None
    return value if value == value and value >= 0 else None  # NaN and negatives: unknown


def _parse_int(text: str | None) -> int | None:
    value = _parse_float(text)
    return None if value is None else int(value)
