"""PTB-XL in its native layout: ``ptbxl_database.csv``, ``scp_statements.csv``, ``records100/``, ``records500/``.

Label sets
----------
The tasks of the PTB-XL benchmark (Strodthoff et al., IEEE JBHI 2021), built from
``scp_statements.csv`` exactly as the benchmark aggregates them:

===================  =======  ==========================================================
``all``              71       every SCP statement
``diagnostic``       44       statements with ``diagnostic == 1``
``subdiagnostic``    23       their ``diagnostic_subclass``
``superdiagnostic``  5        their ``diagnostic_class`` (NORM, MI, STTC, CD, HYP)
``form``             19       statements with ``form == 1``
``rhythm``           12       statements with ``rhythm == 1``
===================  =======  ==========================================================

As in the benchmark, every key of a record's ``scp_codes`` counts, whatever its likelihood:
PTB-XL gives rhythm and most form statements a likelihood of 0 (SR has 0 in all of its
16,748 records), so a "likelihood > 0" filter would silently empty those tasks.  Also as in the
benchmark, a record with no statement of the chosen task has no label there; the reader
reports it as a skipped record ("no labels in the PTB-XL form set") rather than training on
an all-negative row.

``scored`` maps the statements (and the ``heart_axis`` column: LAD/ALAD → left, RAD/ARAD →
right axis deviation) onto the 2021 PhysioNet/CinC Challenge's scored SNOMED CT classes
through ``lrh_tflm/resources/ptbxl_scp_snomed.csv``, one row per mapped statement; equivalent
codes are merged as the Challenge scores them (:mod:`lrh_tflm.data.labels`).  The table
follows the Challenge organisers' own mapping of PTB-XL, checked against their PTB-XL
records in Challenge format (``HR*``) and the PTB-XL counts of their mapping tables.  Like
theirs, it sends NORM to sinus rhythm (as SR), and does not map PVC onto the scored PVC
class: the organisers gave PTB-XL's PVC the unscored code 164884008 (ventricular ectopics).

Other columns: ages stored as 300 mean "over 89" (PTB-XL's anonymisation) and are read as
90, by the rule every reader shares (:func:`lrh_tflm.data.challenge.read_age`: another age
outside 0–150 is unknown, with a warning); sex 0 is male, 1 female (anything else but an empty
cell: unknown, with a warning); official folds (``strat_fold``) 1–8 train, 9 validation,
10 test.  Rows that cannot be used are listing problems with a reason (duplicate
``ecg_id``, two rows naming one signal file, a fold outside 1–10, unreadable ``scp_codes``,
no file name), never silent drops.  Signals are WFDB format-16 ``.dat`` files read through the same WFDB reader as the
Challenge folders (:func:`lrh_tflm.data.challenge.read_wfdb_signal`), whose output matches
``wfdb.rdsamp``.

Choosing the label set
----------------------
``ptbxl:DIR?labels=rhythm`` (or ``open_source(..., ptbxl_labels="rhythm")``) fixes the set.
Without that choice the label space of the build picks it (:meth:`PTBXLSource.for_label_space`,
called by :func:`lrh_tflm.data.cache.prepare`): ``LabelConfig.space`` of ``"rhythm"``,
``"form"``, … gives that task, ``"scored"`` the Challenge classes, ``"all"`` every statement.
Sets join with ``+`` (``"superdiagnostic+rhythm"``: the five superclasses and the twelve
rhythms, one model); two sets that share a class name must mean the same statements by it
(``subdiagnostic+superdiagnostic`` is refused: their ``STTC`` differ).  With a set fixed by
the spec, the label space may be that set, ``"all"`` (its labels seen) or the default
``"scored"`` (which then defers to the spec).
"""
from __future__ import annotations

import ast
import copy
import csv
import re
from collections import Counter
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources
from pathlib import Path
from typing import Iterable

from lrh_tflm.data.challenge import canonical_leads, read_age, read_header, read_wfdb_signal
from lrh_tflm.data.labels import ClassSpace, scored_space
from lrh_tflm.data.record import DatasetError, Problem, Record, RecordError, RecordRef

#: The Challenge scored classes the SCP → SNOMED table can produce (computed below).
_SCORED = "scored"
#: The SCP → SNOMED table in ``lrh_tflm/resources/``.
SNOMED_TABLE = "ptbxl_scp_snomed.csv"

#: Statements of PTB-XL 1.0.3 in ``scp_statements.csv`` order (the class order of ``all``,
#: ``diagnostic``, ``form`` and ``rhythm``).
_STATEMENTS = (
    "NDT", "NST_", "DIG", "LNGQT", "NORM", "IMI", "ASMI", "LVH", "LAFB", "ISC_", "IRBBB", "1AVB",
    "IVCD", "ISCAL", "CRBBB", "CLBBB", "ILMI", "LAO/LAE", "AMI", "ALMI", "ISCIN", "INJAS", "LMI",
    "ISCIL", "LPFB", "ISCAS", "INJAL", "ISCLA", "RVH", "ANEUR", "RAO/RAE", "EL", "WPW", "ILBBB",
    "IPLMI", "ISCAN", "IPMI", "SEHYP", "INJIN", "INJLA", "PMI", "3AVB", "INJIL", "2AVB",
    "ABQRS", "PVC", "STD_", "VCLVH", "QWAVE", "LOWT", "NT_", "PAC", "LPR", "INVT", "LVOLT",
    "HVOLT", "TAB_", "STE_", "PRC(S)",
    "SR", "AFIB", "STACH", "SARRH", "SBRAD", "PACE", "SVARR", "BIGU", "AFLT", "SVTAC", "PSVT",
    "TRIGU",
)
_FORM = ("NDT", "NST_", "DIG", "LNGQT", "ABQRS", "PVC", "STD_", "VCLVH", "QWAVE", "LOWT", "NT_",
         "PAC", "LPR", "INVT", "LVOLT", "HVOLT", "TAB_", "STE_", "PRC(S)")
_RHYTHM = ("SR", "AFIB", "STACH", "SARRH", "SBRAD", "PACE", "SVARR", "BIGU", "AFLT", "SVTAC",
           "PSVT", "TRIGU")
_SUBCLASSES = ("NORM", "STTC", "NST_", "ISC_", "ISCA", "ISCI", "AMI", "IMI", "LMI", "PMI",
               "LVH", "RVH", "LAO/LAE", "RAO/RAE", "SEHYP", "_AVB", "IVCD", "CLBBB", "CRBBB",
               "ILBBB", "IRBBB", "LAFB/LPFB", "WPW")


@dataclass(frozen=True)
class _TableRow:
    field: str
    value: str
    snomed: str


@lru_cache(maxsize=1)
def snomed_table() -> tuple[_TableRow, ...]:
    """The rows of the SCP → SNOMED table (``field`` is ``scp_codes`` or ``heart_axis``)."""
    text = resources.files("lrh_tflm").joinpath("resources", SNOMED_TABLE).read_text()
    return tuple(_TableRow(r["field"].strip(), r["value"].strip(), r["SNOMEDCTCode"].strip())
                 for r in csv.DictReader(text.splitlines()))


@lru_cache(maxsize=1)
def _scored_classes() -> ClassSpace:
    """The Challenge scored classes the table reaches, in ``weights.csv`` order."""
    space = scored_space()
    reached = {space.index_of(row.snomed) for row in snomed_table()}
    if None in reached:
        raise DatasetError(f"{SNOMED_TABLE} maps onto a code that is not a scored class")
    return space.subset(sorted(reached))


#: Classes of each label set, in the order models and reports use.
PTBXL_LABEL_SETS: dict[str, tuple[str, ...]] = {
    "all": _STATEMENTS,
    "diagnostic": _STATEMENTS[:44],
    "subdiagnostic": _SUBCLASSES,
    "superdiagnostic": ("NORM", "MI", "STTC", "CD", "HYP"),
    "form": _FORM,
    "rhythm": _RHYTHM,
    _SCORED: _scored_classes().classes,
}

#: Sampling rates PTB-XL ships, and the database column naming each rate's files.
_RATE_COLUMN = {500: "filename_hr", 100: "filename_lr"}

_DATABASE_COLUMNS = ("ecg_id", "scp_codes", "strat_fold", "filename_lr", "filename_hr", "age", "sex")
_DEFAULT_LABELS = "superdiagnostic"


@lru_cache(maxsize=64)
def label_set_parts(label_set: str) -> tuple[str, ...]:
    """The base label sets a name combines: ``"superdiagnostic+rhythm"`` → both.

    Raises
    ------
    ValueError
        Empty, unknown or repeated part.
    """
    parts = tuple(p.strip() for p in str(label_set).split("+"))
    unknown = [p for p in parts if p not in PTBXL_LABEL_SETS]
    if unknown or not parts:
        raise ValueError(f"unknown PTB-XL label set {label_set!r}; choose one of "
                         f"{', '.join(PTBXL_LABEL_SETS)}, or several joined by '+'")
    if len(set(parts)) != len(parts):
        raise ValueError(f"PTB-XL label set {label_set!r} names a set twice")
    return parts


def is_label_set(name: str) -> bool:
    """Whether ``name`` is a PTB-XL label set (a key of :data:`PTBXL_LABEL_SETS` or a
    ``+``-joined combination of them)."""
    try:
        label_set_parts(name)
    except ValueError:
        return False
    return True


@lru_cache(maxsize=64)
def ptbxl_class_space(label_set: str) -> ClassSpace:
    """The :class:`ClassSpace` of a PTB-XL label set, or of several joined by ``+``.

    SCP statements and diagnostic (sub)classes double as abbreviations; ``scored`` has the
    Challenge's SNOMED class names and abbreviations.  A combination lists each part's
    classes in turn, a class that two parts share once.

    Raises
    ------
    ValueError
        Unknown label set.
    """
    classes: list[str] = []
    abbrs: list[str] = []
    for part in label_set_parts(label_set):
        space = _scored_classes() if part == _SCORED else ClassSpace(PTBXL_LABEL_SETS[part],
                                                                     PTBXL_LABEL_SETS[part])
        for c, a in zip(space.classes, space.abbreviations):
            if c not in classes:
                classes.append(c)
                abbrs.append(a)
    return ClassSpace(classes=tuple(classes), abbreviations=tuple(abbrs))


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


def _is_one(text: str | None) -> bool:
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


#: Columns of ``scp_statements.csv`` each label set needs: (flag column, label column or
#: ``None`` when the statement itself is the label).
_SET_COLUMNS: dict[str, tuple[str | None, str | None]] = {
    "all": (None, None),
    "diagnostic": ("diagnostic", None),
    "subdiagnostic": ("diagnostic", "diagnostic_subclass"),
    "superdiagnostic": ("diagnostic", "diagnostic_class"),
    "form": ("form", None),
    "rhythm": ("rhythm", None),
}


def _aggregations(path: Path) -> dict[str, dict[str, str] | str]:
    """Per label set except ``scored``: SCP code → label, from ``scp_statements.csv``.

    A set whose columns the file lacks maps to the message saying so (an error only when
    that set is chosen).
    """
    rows = _read_csv(path)
    if not rows:
        raise DatasetError(f"{path} lists no statements")
    code_col = next(iter(rows[0]))  # the first column (unnamed in PTB-XL) holds the code
    out: dict[str, dict[str, str] | str] = {}
    for name, (flag, column) in _SET_COLUMNS.items():
        missing = [c for c in (flag, column) if c is not None and c not in rows[0]]
        if missing:
            out[name] = (f"{path} lacks column(s) {', '.join(missing)}, which the {name} label "
                         f"set needs")
            continue
        mapping: dict[str, str] = {}
        for row in rows:
            code = (row[code_col] or "").strip()
            if code and (flag is None or _is_one(row[flag])):
                label = code if column is None else (row[column] or "").strip()
                if label:
                    mapping[code] = label
        out[name] = mapping
    return out


def _part_labels(codes: Iterable[str], part: str, aggregations: dict, heart_axis: str) -> set[str]:
    if part == _SCORED:
        by_field = _snomed_lookup()
        found = {by_field["scp_codes"][c] for c in codes if c in by_field["scp_codes"]}
        if heart_axis in by_field["heart_axis"]:
            found.add(by_field["heart_axis"][heart_axis])
        return found
    mapping = aggregations[part]
    if isinstance(mapping, str):
        raise DatasetError(mapping)
    return {mapping[c] for c in codes if c in mapping}


def task_labels(codes: Iterable[str], label_set: str, aggregations: dict[str, dict[str, str]],
                heart_axis: str = "") -> tuple[str, ...]:
    """The labels of one record in a label set.

    Parameters
    ----------
    codes
        The keys of the record's ``scp_codes`` (every key counts, whatever its likelihood).
    label_set
        A key of :data:`PTBXL_LABEL_SETS`, or several joined by ``+``.
    aggregations
        SCP code → label per base label set (from ``scp_statements.csv``).
    heart_axis
        The record's ``heart_axis`` (used by ``scored`` only).

    Returns
    -------
    tuple of str
        The labels in the label set's class order (SNOMED codes for ``scored``, ordered by
        their scored class).
    """
    codes = tuple(codes)
    found: set[str] = set()
    for part in label_set_parts(label_set):
        found |= _part_labels(codes, part, aggregations, heart_axis)
    rank = _rank(label_set)
    # Labels of statements this version of the table does not know come last.
    return tuple(sorted(found, key=lambda label: (rank.get(label, len(rank)), label)))


@lru_cache(maxsize=64)
def _rank(label_set: str) -> dict[str, int]:
    """Label → position of its class; scored SNOMED codes rank by their (merged) class."""
    space = ptbxl_class_space(label_set)
    rank = {code: i for code, i in space.code_to_index.items()}
    rank.update({c: i for i, c in enumerate(space.classes)})
    return rank


class _Labeller:
    """:func:`task_labels` for one label set, remembered per distinct code set: PTB-XL's
    21,799 records carry far fewer distinct combinations (NORM + SR alone is a third)."""

    def __init__(self, label_set: str, aggregations: dict):
        self.label_set = label_set
        self.aggregations = aggregations
        self.memo: dict[tuple, tuple[str, ...]] = {}
        self.uses_axis = _SCORED in label_set_parts(label_set)

    def __call__(self, codes: tuple[str, ...], heart_axis: str = "") -> tuple[str, ...]:
        if not self.uses_axis:
            heart_axis = ""
        key = (codes, heart_axis)
        labels = self.memo.get(key)
        if labels is None:
            labels = self.memo[key] = task_labels(codes, self.label_set, self.aggregations,
                                                  heart_axis)
        return labels


def _check_combination(label_set: str, aggregations: dict) -> None:
    """A class that two combined sets share must mean the same statements in both."""
    members: dict[str, tuple[str, frozenset]] = {}
    for part in label_set_parts(label_set):
        mapping = aggregations.get(part)
        if part == _SCORED or not isinstance(mapping, dict):
            continue
        for cls in set(mapping.values()):
            codes = frozenset(c for c, v in mapping.items() if v == cls)
            if cls in members and members[cls][1] != codes:
                raise DatasetError(f"PTB-XL label sets {members[cls][0]} and {part} both have a "
                                   f"class {cls!r} made of different statements; they cannot be "
                                   f"combined")
            members.setdefault(cls, (part, codes))


@lru_cache(maxsize=1)
def _snomed_lookup() -> dict[str, dict[str, str]]:
    out: dict[str, dict[str, str]] = {"scp_codes": {}, "heart_axis": {}}
    for row in snomed_table():
        if row.field not in out:
            raise DatasetError(f"{SNOMED_TABLE}: unknown field {row.field!r}")
        if row.value in out[row.field]:
            raise DatasetError(f"{SNOMED_TABLE}: {row.field} {row.value} is mapped twice")
        out[row.field][row.value] = row.snomed
    return out


def parse_options(query: str) -> list[tuple[str, str]]:
    """``"labels=superdiagnostic+rhythm&rate=100"`` → key/value pairs, taken literally.

    Spec options are not URL-encoded: ``+`` joins label sets, it is not a space.

    Raises
    ------
    ValueError
        A part without ``=`` or with an empty key.
    """
    pairs = []
    for part in query.split("&"):
        key, sep, value = part.partition("=")
        if not sep or not key.strip():
            raise ValueError(f"option {part!r} is not key=value")
        pairs.append((key.strip(), value.strip()))
    return pairs


#: A ``scp_codes`` cell as PTB-XL writes it: ``{'NORM': 100.0, 'SR': 0.0}``.
_SCP_DICT = re.compile(r"\{\s*(?:'[^'\\]*'\s*:\s*[-+]?[0-9][0-9.eE+-]*\s*"
                       r"(?:,\s*'[^'\\]*'\s*:\s*[-+]?[0-9][0-9.eE+-]*\s*)*,?\s*)?\}")
_SCP_KEY = re.compile(r"'([^'\\]*)'\s*:")


def scp_code_keys(text: str) -> list[str]:
    """The statement codes (keys) of a ``scp_codes`` cell, whatever their likelihoods.

    The cell is a Python dict literal; PTB-XL's own form is matched by a regular expression
    (the listing of 21,799 rows spent most of its time in ``ast.literal_eval``), anything
    else goes through ``ast.literal_eval``.

    Raises
    ------
    ValueError, SyntaxError, TypeError
        Not a dict literal.
    """
    text = (text or "").strip()
    if _SCP_DICT.fullmatch(text):
        return _SCP_KEY.findall(text)
    codes = ast.literal_eval(text)
    if not isinstance(codes, dict):
        raise ValueError("not a dict")
    return [str(c) for c in codes]


def label_set_of_spec(spec: str | None) -> str | None:
    """The PTB-XL label set a canonical data spec names (``…?labels=rhythm&rate=100`` →
    ``"rhythm"``), e.g. the one a saved model's sidecar records; ``None`` for other specs.

    Evaluating that model on PTB-XL with this label space relabels the records as it was
    trained (``LabelConfig(space=label_set_of_spec(saved_spec))``).
    """
    text = str(spec or "")
    if not text.startswith("ptbxl:") or "?" not in text:
        return None
    try:
        labels = dict(parse_options(text.partition("?")[2])).get("labels")
    except ValueError:
        return None
    return labels if labels is not None and is_label_set(labels) else None


def _respec(spec: str, **options) -> str:
    """``spec`` with its ``?key=value`` options updated (added when absent)."""
    base, _, query = spec.partition("?")
    opts = dict(parse_options(query)) if query else {}
    opts.update({k: str(v) for k, v in options.items()})
    return base + "?" + "&".join(f"{k}={v}" for k, v in opts.items())


class PTBXLSource:
    """PTB-XL, read from its database CSV and WFDB record folders.

    Parameters
    ----------
    root
        The folder holding ``ptbxl_database.csv``.
    labels
        Label set, a key of :data:`PTBXL_LABEL_SETS` (``"all"``, ``"diagnostic"``,
        ``"subdiagnostic"``, ``"superdiagnostic"``, ``"form"``, ``"rhythm"``, ``"scored"``),
        or several joined by ``+`` (``"superdiagnostic+rhythm"``: both sets' classes).
        ``None`` (default): not chosen here; ``"superdiagnostic"`` until the build's label
        space picks another (:meth:`for_label_space`).
    rate
        500 or 100 Hz; falls back to the other rate when only that folder exists.
    require_labels
        Records without a label of the chosen set are errors (default); ``False`` reads them
        with ``labels=()``.
    spec
        The spec string the user gave (for messages and the cache key).

    Raises
    ------
    DatasetError
        Missing database/statement files or columns, no record folder, no records.
    ValueError
        Unknown label set or rate.
    """

    kind = "ptbxl"

    def __init__(self, root: Path, *, labels: str | None = None, rate: int = 500,
                 require_labels: bool = True, spec: str | None = None):
        self.root = Path(root)
        self.spec = spec or f"ptbxl:{self.root}"
        self.label_set_explicit = labels is not None
        labels = _DEFAULT_LABELS if labels is None else labels
        label_set_parts(labels)  # validates the name
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
        if not (self.root / "ptbxl_database.csv").is_file():
            raise DatasetError(f"ptbxl_database.csv not found in {self.root}: not a PTB-XL folder")
        self._aggregations = _aggregations(self.root / "scp_statements.csv")
        self._has_axis = True
        self._check_columns()
        self._rows, self._problems, self._has_axis = self._list()
        self._refs_built: list[RecordRef] | None = None
        self._check_columns()
        if not self._rows:
            raise DatasetError(f"no records found in {self.root / 'ptbxl_database.csv'}")

    # ------------------------------------------------------------------ listing
    def _list(self) -> tuple[list[tuple], list[Problem], bool]:
        """Usable rows as ``(name, path, age, sex, fold, scp codes, heart axis)``, sorted by
        name; the problems with the others; whether the table has ``heart_axis``."""
        db = self.root / "ptbxl_database.csv"
        rows = _read_csv(db)
        has_axis = bool(rows) and "heart_axis" in rows[0]
        if rows:
            missing = [c for c in _DATABASE_COLUMNS if c not in rows[0]]
            if missing:
                raise DatasetError(f"{db} lacks column(s) {', '.join(missing)}")
        out: list[tuple] = []
        problems: list[Problem] = []
        first_row: dict[int, int] = {}
        first_file: dict[str, int] = {}
        folders: dict[str, Path] = {}
        # Most records share a handful of code sets ("{'NORM': 100.0, 'SR': 0.0}" alone is a
        # third of PTB-XL): each distinct cell is parsed once.
        parsed: dict[str, tuple[str, ...]] = {}
        for line, row in enumerate(rows, start=2):
            raw_id = (row["ecg_id"] or "").strip()
            try:
                ecg_id = int(float(raw_id))
            except (ValueError, OverflowError):
                problems.append(Problem(f"row {line}", f"ecg_id {raw_id!r} is not a number"))
                continue
            name = f"{ecg_id:05d}"
            if ecg_id in first_row:
                problems.append(Problem(name, f"duplicate ecg_id {ecg_id}: {db.name} row {line} "
                                              f"repeats row {first_row[ecg_id]}; the repeat is "
                                              f"skipped"))
                continue
            first_row[ecg_id] = line
            cell = row["scp_codes"]
            scp = parsed.get(cell)
            if scp is None:
                try:
                    scp = parsed[cell] = tuple(sorted({c.strip() for c in scp_code_keys(cell)}))
                except (ValueError, SyntaxError, TypeError) as err:
                    problems.append(Problem(name, f"unreadable scp_codes in {db.name} row {line}: "
                                                  f"{err}"))
                    continue
            raw_fold = (row["strat_fold"] or "").strip()
            try:
                fold = int(float(raw_fold))
            except (ValueError, OverflowError):
                problems.append(Problem(name, f"strat_fold {raw_fold!r} in {db.name} row {line} "
                                              f"is not a fold number"))
                continue
            if not 1 <= fold <= 10 or float(raw_fold) != fold:
                problems.append(Problem(name, f"strat_fold {raw_fold} in {db.name} row {line} is "
                                              f"outside PTB-XL's folds 1–10"))
                continue
            filename = (row[_RATE_COLUMN[self.rate]] or "").strip()
            if not filename:
                problems.append(Problem(name, f"no {_RATE_COLUMN[self.rate]} in {db.name} row {line}"))
                continue
            if filename in first_file:
                problems.append(Problem(name, f"{db.name} row {line} names the signal file "
                                              f"{filename} of row {first_file[filename]} "
                                              f"again; the repeat is skipped"))
                continue
            first_file[filename] = line
            axis = (row.get("heart_axis") or "").strip()
            age, age_note = read_age(row["age"])
            sex, sex_note = _read_sex(row["sex"])
            notes = tuple(f"{n} ({db.name} row {line})" for n in (age_note, sex_note) if n)
            folder, _, base = filename.rpartition("/")
            if folder not in folders:
                folders[folder] = self.root / folder / "x.hea"  # a template: with_name is cheap
            out.append((name, folders[folder].with_name(base + ".hea"), age, sex, fold, scp, axis,
                        notes))
        out.sort(key=lambda r: r[0])
        return out, problems, has_axis

    def _check_columns(self) -> None:
        parts = label_set_parts(self.label_set)
        for part in parts:
            missing = self._aggregations.get(part)
            if isinstance(missing, str):
                raise DatasetError(missing)
        _check_combination(self.label_set, self._aggregations)
        if _SCORED in parts and not self._has_axis:
            raise DatasetError(f"{self.root / 'ptbxl_database.csv'} has no heart_axis column, "
                               f"which the scored label set needs (left/right axis deviation)")

    # ------------------------------------------------------------------ label sets
    def with_labels(self, label_set: str) -> "PTBXLSource":
        """This source relabelled with another label set (no file is read again).

        Raises
        ------
        ValueError
            Unknown label set.
        DatasetError
            ``scored`` on a table without ``heart_axis``.
        """
        label_set_parts(label_set)
        other = copy.copy(self)
        other.label_set = label_set
        other.label_set_explicit = True
        other._check_columns()
        other._refs_built = None  # the refs of the new set are made when first asked for
        other.spec = _respec(self.spec, labels=label_set)
        return other

    def for_label_space(self, space: str) -> "PTBXLSource":
        """The source a build with label space ``space`` (``LabelConfig.space``) reads.

        A label set fixed by the spec (``?labels=``) or the ``labels`` argument stays; the
        label space must then fit it (:meth:`class_space`).  Otherwise a PTB-XL label-set
        name picks that set: ``"scored"`` the Challenge classes, ``"all"`` every statement,
        ``"rhythm"``/``"form"``/… that task.  Any other name leaves the source as it is.
        """
        if self.label_set_explicit or not is_label_set(space) or space == self.label_set:
            return self
        return self.with_labels(space)

    def class_space(self, name: str, codes_seen=()) -> ClassSpace:
        """The class space for a label-space name (``LabelConfig.space``).

        This source's label set gives its fixed classes; so does ``"scored"`` (the default
        label space) when the set was chosen by the spec; ``"all"`` gives the labels seen,
        in the label set's order.

        Raises
        ------
        DatasetError
            Another PTB-XL label set than the one the records were labelled with, or an
            unknown name.
        """
        space = self._space()
        if name == self.label_set or (name == _SCORED and self.label_set_explicit):
            return space
        if name == "all":
            return space.subset(sorted({i for i in map(space.index_of, map(str, codes_seen))
                                        if i is not None}))
        raise DatasetError(f"label space {name!r} does not fit {self.spec}, whose records carry "
                           f"{self.label_set} labels (use {self.label_set!r} or 'all')")

    def _space(self) -> ClassSpace:
        """The label set's classes, and after them any this folder's ``scp_statements.csv``
        adds to PTB-XL 1.0.3's (another version of the table)."""
        space = ptbxl_class_space(self.label_set)
        extra: set[str] = set()
        for part in label_set_parts(self.label_set):
            mapping = self._aggregations.get(part)
            if isinstance(mapping, dict):
                extra |= set(mapping.values()) - set(space.classes)
        extra_sorted = tuple(sorted(extra))
        return ClassSpace(space.classes + extra_sorted, space.abbreviations + extra_sorted)

    def label_counts(self) -> dict:
        """Records per official split, with at least one label, and per class.

        Returns
        -------
        dict
            ``{"label_set", "records": {split: n}, "labelled": {split: n},
            "classes": {class: {split: n}}}`` over the listed records (listing problems
            excluded), splits ``train``/``val``/``test``.
        """
        splits = ("train", "val", "test")
        records, labelled = Counter(), Counter()
        space = self._space()
        per_class: dict[str, Counter] = {c: Counter() for c in space.classes}
        for ref in self.refs():
            split = official_split(ref.get("fold"))
            records[split] += 1
            labels = ref.get("labels", ())
            if labels:
                labelled[split] += 1
            for i in {space.index_of(c) for c in labels} - {None}:
                per_class[space.classes[i]][split] += 1
        return {"label_set": self.label_set,
                "records": {s: records[s] for s in splits},
                "labelled": {s: labelled[s] for s in splits},
                "classes": {c: {s: n[s] for s in splits} for c, n in per_class.items()}}

    # ------------------------------------------------------------------ DataSource
    def refs(self) -> list[RecordRef]:
        """Every usable row of the database, sorted by zero-padded ``ecg_id``."""
        if self._refs_built is None:
            labeller = _Labeller(self.label_set, self._aggregations)
            self._refs_built = [
                RecordRef(name=name, path=path, meta=(
                    ("labels", labeller(scp, axis)), ("age", age), ("sex", sex), ("fold", fold),
                    ("scp_codes", scp), ("heart_axis", axis)) + ((("notes", notes),) if notes else ()))
                for name, path, age, sex, fold, scp, axis, notes in self._rows]
        return list(self._refs_built)

    def __getstate__(self) -> dict:
        # Worker processes only read records by their refs: the built listing stays here.
        return {**self.__dict__, "_refs_built": None}

    def listing_problems(self) -> list[Problem]:
        """Database rows that could not be used, each with its reason."""
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
                      age=ref.get("age"), sex=ref.get("sex"), path=ref.path, fold=ref.get("fold"),
                      notes=tuple(ref.get("notes", ())))

    def __repr__(self) -> str:
        return (f"PTBXLSource({str(self.root)!r}, labels={self.label_set!r}, rate={self.rate}, "
                f"records={len(self._rows)})")


def _read_sex(text: str | None) -> tuple[str | None, str | None]:
    """PTB-XL's sex column: 0 male, 1 female; empty/NaN unknown; anything else unknown, noted."""
    raw = (text or "").strip()
    if raw.lower() in ("", "nan"):
        return None, None
    try:
        sex = {0.0: "M", 1.0: "F"}.get(float(raw))
    except ValueError:
        sex = None
    if sex is None:
        return None, f"sex {raw!r} is not 0 (male) or 1 (female): sex read as unknown"
    return sex, None


__all__ = ["PTBXL_LABEL_SETS", "PTBXLSource", "official_split", "ptbxl_class_space",
           "label_set_parts", "is_label_set", "parse_options", "scp_code_keys",
           "label_set_of_spec",
           "snomed_table", "task_labels", "SNOMED_TABLE"]
