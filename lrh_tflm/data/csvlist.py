"""A CSV list of WFDB records: ``path,labels[,age,sex,fold]``, one record per row.

The header row is required.  ``path`` is relative to the CSV's folder (or absolute) and names a
WFDB record base name or its ``.hea`` (a ``.mat``/``.dat`` suffix is accepted too).  ``labels``
are codes separated by ``;``, commas or spaces.  ``age``, ``sex`` and ``fold`` are optional;
when a row leaves age or sex empty the header's ``Age``/``Sex`` comments are used.

Records are read by the WFDB reader of :mod:`lrh_tflm.data.challenge`, which handles both
Challenge ``.mat`` signals and ordinary ``.dat`` WFDB collections (rare formats go through wfdb).
"""
from __future__ import annotations

import csv
from pathlib import Path

from lrh_tflm.data.challenge import (
    SIGNAL_SUFFIXES,
    parse_age,
    parse_sex,
    read_challenge_record,
    split_codes,
)
from lrh_tflm.data.record import DatasetError, Problem, Record, RecordError, RecordRef

REQUIRED_COLUMNS = ("path", "labels")
OPTIONAL_COLUMNS = ("age", "sex", "fold")


class CsvListSource:
    """Records listed in a CSV file.

    Parameters
    ----------
    csv_path
        The list.
    require_labels
        Rows with an empty ``labels`` field are errors (default); ``False`` reads them with
        ``labels=()``.
    spec
        The spec string the user gave (for messages).

    Raises
    ------
    DatasetError
        Missing or unreadable file, no header row, missing ``path``/``labels`` column, no rows.
    """

    kind = "csv"

    def __init__(self, csv_path: Path, *, require_labels: bool = True, spec: str | None = None):
        self.csv_path = Path(csv_path)
        self.root = self.csv_path.parent
        self.spec = spec or f"csv:{self.csv_path}"
        self.require_labels = require_labels
        self._refs, self._problems = self._list()
        if not self._refs and not self._problems:
            raise DatasetError(f"no records found in {self.csv_path} (the list has no rows)")
        if not self._refs:
            raise DatasetError(f"no usable rows in {self.csv_path}: "
                               + "; ".join(str(p) for p in self._problems[:3]))

    def _list(self) -> tuple[list[RecordRef], list[Problem]]:
        try:
            with open(self.csv_path, newline="", encoding="utf-8-sig") as fh:
                reader = csv.DictReader(fh)
                fieldnames = [f.strip().lower() for f in (reader.fieldnames or [])]
                rows = list(reader)
        except FileNotFoundError:
            raise DatasetError(f"record list {self.csv_path} does not exist") from None
        except (OSError, UnicodeDecodeError, csv.Error) as err:
            raise DatasetError(f"cannot read record list {self.csv_path}: {err}") from None
        missing = [c for c in REQUIRED_COLUMNS if c not in fieldnames]
        if missing:
            raise DatasetError(f"{self.csv_path} needs a header row with columns path,labels"
                               f"[,age,sex,fold]; missing: {', '.join(missing)}")
        refs: dict[str, RecordRef] = {}
        problems: list[Problem] = []
        for line, raw in enumerate(rows, start=2):
            row = {(k or "").strip().lower(): (v or "").strip() for k, v in raw.items()
                   if not isinstance(v, list)}
            where = f"{self.csv_path.name} line {line}"
            if not row.get("path"):
                problems.append(Problem(where, "empty path"))
                continue
            path = Path(row["path"])
            if not path.is_absolute():
                path = self.root / path
            if path.suffix.lower() in (".hea",) + SIGNAL_SUFFIXES:
                path = path.with_suffix("")
            name = path.name
            try:
                meta = self._row_meta(row)
            except ValueError as err:
                problems.append(Problem(name, f"{where}: {err}"))
                continue
            if name in refs:
                problems.append(Problem(name, f"{where}: record listed twice"))
                continue
            refs[name] = RecordRef(name=name, path=path.with_name(name + ".hea"), meta=meta)
        return [refs[n] for n in sorted(refs)], problems

    @staticmethod
    def _row_meta(row: dict[str, str]) -> tuple[tuple[str, object], ...]:
        age_text, sex_text, fold_text = (row.get(c, "") for c in OPTIONAL_COLUMNS)
        age = parse_age(age_text) if age_text else None
        if age_text and age is None and age_text.lower() not in ("nan", "unknown"):
            raise ValueError(f"age {age_text!r} is not a number of years")
        sex = parse_sex(sex_text) if sex_text else None
        if sex_text and sex is None and sex_text.lower() != "unknown":
            raise ValueError(f"sex {sex_text!r} not understood (use M/F or Male/Female)")
        fold = None
        if fold_text:
            try:
                fold = int(fold_text)
            except ValueError:
                raise ValueError(f"fold {fold_text!r} is not an integer") from None
        return (("labels", split_codes(row.get("labels", ""))), ("age", age), ("sex", sex),
                ("fold", fold))

    def refs(self) -> list[RecordRef]:
        """The listed records, sorted by name."""
        return list(self._refs)

    def listing_problems(self) -> list[Problem]:
        """Rows that could not be understood (empty path, bad age/sex/fold, duplicates)."""
        return list(self._problems)

    def read(self, ref: RecordRef) -> Record:
        """Read one record; any problem with it is a :class:`RecordError`."""
        labels = tuple(ref.get("labels", ()))
        if not labels and self.require_labels:
            raise RecordError(ref.name, f"no labels in {self.csv_path.name}")
        if not ref.path.is_file():
            raise RecordError(ref.name, f"record file {ref.path} not found")
        return read_challenge_record(ref.path, name=ref.name, require_labels=False, labels=labels,
                                     age=ref.get("age"), sex=ref.get("sex"), fold=ref.get("fold"))

    def __repr__(self) -> str:
        return f"CsvListSource({str(self.csv_path)!r}, records={len(self._refs)})"
