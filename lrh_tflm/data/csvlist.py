"""A CSV list of WFDB records: ``path,labels[,age,sex,fold]``, one record per row.

The header row is required.  ``path`` is relative to the CSV's folder (or absolute) and names a
WFDB record base name or its ``.hea`` (a ``.mat``/``.dat`` suffix is accepted too).  ``labels``
are codes separated by ``;``, commas or spaces.  ``age``, ``sex`` and ``fold`` are optional;
when a row leaves age or sex empty the header's ``Age``/``Sex`` comments are used.  Ages and
sexes follow the rule of every reader (:func:`lrh_tflm.data.challenge.read_age`): 300 is
"over 89" and reads as 90; a value that is neither an age nor unknown (``-5``, ``abc``) keeps
the row with that field unknown and a warning on the record.  A fold that is not an integer
from 0 to 32767 is a problem with the row.

Records are read by the WFDB reader of :mod:`lrh_tflm.data.challenge`, which handles both
Challenge ``.mat`` signals and ordinary ``.dat`` WFDB collections (rare formats go through wfdb).
"""
from __future__ import annotations

import csv
import dataclasses
from pathlib import Path

from lrh_tflm.data.challenge import (
    SIGNAL_SUFFIXES,
    find_file,
    not_a_file,
    read_age,
    read_challenge_record,
    read_sex,
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
        age, age_note = read_age(age_text)
        sex, sex_note = read_sex(sex_text)
        fold = None
        if fold_text:
            try:
                fold = int(fold_text)
            except ValueError:
                raise ValueError(f"fold {fold_text!r} is not an integer") from None
            if not 0 <= fold <= 32767:
                raise ValueError(f"fold {fold} is outside 0–32767")
        # A bad age or sex keeps the row, that field unknown (not the header's), and says so.
        notes = tuple(n for n in (age_note, sex_note) if n)
        return (("labels", split_codes(row.get("labels", ""))), ("age", age), ("sex", sex),
                ("fold", fold), ("notes", notes),
                ("unknown", tuple(k for k, n in (("age", age_note), ("sex", sex_note)) if n)))

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
        path = find_file(ref.path)
        if path is None:
            raise RecordError(ref.name, f"record file {ref.path} {not_a_file(ref.path)}")
        rec = read_challenge_record(path, name=ref.name, require_labels=False, labels=labels,
                                    age=ref.get("age"), sex=ref.get("sex"), fold=ref.get("fold"))
        notes = tuple(ref.get("notes", ()))
        if notes:
            where = f"{self.csv_path.name}: "
            unknown = {k: None for k in ref.get("unknown", ())}
            rec = dataclasses.replace(rec, **unknown,
                                      notes=tuple(where + n for n in notes) + rec.notes)
        return rec

    def __repr__(self) -> str:
        return f"CsvListSource({str(self.csv_path)!r}, records={len(self._refs)})"
