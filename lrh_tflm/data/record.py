"""The record type every reader returns, and how problems with records are reported.

A reader never raises a traceback at a user for a problem with *their data*: a
record-level problem becomes a :class:`RecordError` that the caller turns into a
:class:`Problem` (record, reason), and a dataset-level problem is a :class:`DatasetError`
whose message is shown as is.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Iterator, Protocol, Sequence

import numpy as np

from lrh_tflm.io import write_json_atomic


@dataclass(frozen=True)
class Record:
    """One ECG recording, whatever format it came from.

    Attributes
    ----------
    name
        Record name, unique within its dataset (e.g. ``"E00009"``).
    signal
        float32 array, leads × samples, in millivolts.
    fs
        Sampling rate in Hz.
    leads
        Lead names in the order of ``signal``'s rows (canonical spelling).
    labels
        SNOMED CT codes (strings) exactly as given by the source.
    age
        Age in years, or ``None`` when unknown.
    sex
        ``"M"``, ``"F"`` or ``None`` when unknown.
    path
        The file the record was read from (header for WFDB records).
    fold
        Official fold where the dataset defines one (PTB-XL ``strat_fold``), else ``None``.
    notes
        Warnings about a record that is still used (an implausible age read as unknown, a
        flat lead kept as zeros …); the commands report and count them like problems.
    """

    name: str
    signal: np.ndarray
    fs: float
    leads: tuple[str, ...]
    labels: tuple[str, ...]
    age: float | None
    sex: str | None
    path: Path
    fold: int | None = None
    notes: tuple[str, ...] = ()

    @property
    def n_samples(self) -> int:
        return int(self.signal.shape[1])

    @property
    def duration(self) -> float:
        """Duration in seconds."""
        return self.n_samples / float(self.fs)


@dataclass(frozen=True)
class RecordRef:
    """A cheap, picklable handle on a record: enough to read it in a worker process.

    ``meta`` carries reader-specific facts known from listing (e.g. labels from a CSV
    list or the PTB-XL database) as a tuple of (key, value) pairs so the ref stays
    hashable.
    """

    name: str
    path: Path
    meta: tuple[tuple[str, object], ...] = ()

    def get(self, key: str, default=None):
        for k, v in self.meta:
            if k == key:
                return v
        return default


class RecordError(Exception):
    """A problem with one record: it is skipped and reported, never a traceback."""

    def __init__(self, record: str, reason: str):
        super().__init__(f"{record}: {reason}")
        self.record = record
        self.reason = reason


class DatasetError(Exception):
    """A problem with the dataset as a whole (nothing readable, no labels, bad spec)."""


@dataclass(frozen=True)
class Problem:
    """A record that was skipped, and why."""

    record: str
    reason: str

    def __str__(self) -> str:
        return f"{self.record}: {self.reason}"


@dataclass
class ProblemLog:
    """Collects record-level problems; with ``strict`` the first one is raised instead.

    The log is printed at the end of a data command and saved next to the cache, so a
    skipped record is never a silent drop.  ``warnings`` are about records that were kept
    (:attr:`Record.notes`: unknown demographics, a flat lead kept as zeros); they are
    reported and counted the same way, and never stop a strict run.
    """

    strict: bool = False
    problems: list[Problem] = field(default_factory=list)
    warnings: list[Problem] = field(default_factory=list)

    def add(self, record: str, reason: str) -> None:
        if self.strict:
            raise RecordError(record, reason)
        self.problems.append(Problem(record, reason))

    def add_error(self, err: RecordError) -> None:
        self.add(err.record, err.reason)

    def warn(self, record: str, reason: str) -> None:
        """Note a warning about a record that is kept."""
        self.warnings.append(Problem(record, reason))

    def warn_all(self, record: str, notes: Sequence[str]) -> None:
        for note in notes:
            self.warn(record, note)

    def extend(self, problems: Sequence[Problem]) -> None:
        for p in problems:
            self.add(p.record, p.reason)

    def __len__(self) -> int:
        return len(self.problems)

    def __iter__(self) -> Iterator[Problem]:
        return iter(self.problems)

    def as_pairs(self) -> list[list[str]]:
        return [[p.record, p.reason] for p in self.problems]

    def warning_pairs(self) -> list[list[str]]:
        return [[p.record, p.reason] for p in self.warnings]

    def summary(self, limit: int = 20) -> str:
        """Human-readable listing: one line per problem and warning (first ``limit`` of
        each), plus the counts."""
        lines = []
        for items, head in ((self.problems, "record(s) skipped"),
                            (self.warnings, "warning(s), records kept")):
            if not items:
                continue
            lines.append(f"{len(items)} {head}:")
            lines += [f"  {p}" for p in items[:limit]]
            if len(items) > limit:
                lines.append(f"  … and {len(items) - limit} more (see the saved problems report)")
        return "\n".join(lines) if lines else "no problems found"

    def save(self, path: Path) -> None:
        """Write the problems and warnings as JSON (atomically)."""
        write_json_atomic(path, {"problems": [asdict(p) for p in self.problems],
                                 "warnings": [asdict(p) for p in self.warnings]})


class DataSource(Protocol):
    """What every reader offers: a listing of refs, listing-time problems, and a reader.

    ``read`` raises :class:`RecordError` for any problem with that record.
    """

    spec: str
    kind: str
    root: Path

    def refs(self) -> list[RecordRef]: ...

    def listing_problems(self) -> list[Problem]: ...

    def read(self, ref: RecordRef) -> Record: ...
