"""Label spaces: the PhysioNet/CinC 2021 scored classes (equivalent codes merged) or every code seen.

Classes are named as in the official ``weights.csv``: a plain SNOMED CT code
(``"164889003"``) or an equivalence pair joined by ``|`` (``"733534002|164909002"``).
The scoring tables ship with the package in ``lrh_tflm/resources/``.
"""
from __future__ import annotations

import csv
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources
from typing import Iterable, Sequence

import numpy as np

#: The Challenge's normal class (sinus rhythm).
NORMAL_CLASS = "426783006"


def _resource_text(name: str) -> str:
    return resources.files("lrh_tflm").joinpath("resources", name).read_text()


@lru_cache(maxsize=1)
def _weights_table() -> tuple[tuple[str, ...], np.ndarray]:
    rows = list(csv.reader(_resource_text("weights.csv").splitlines()))
    classes = tuple(c.strip() for c in rows[0][1:])
    matrix = np.array([[float(v) for v in r[1:]] for r in rows[1:]], dtype=np.float64)
    return classes, matrix


@lru_cache(maxsize=1)
def _abbreviation_by_class() -> dict[str, str]:
    rows = list(csv.reader(_resource_text("weights_abbreviations.csv").splitlines()))
    classes, _ = _weights_table()
    return dict(zip(classes, (a.strip() for a in rows[0][1:])))


@lru_cache(maxsize=1)
def _mapping_rows() -> dict[str, tuple[str, str]]:
    """SNOMED code → (description, abbreviation), from the scored and unscored tables."""
    out: dict[str, tuple[str, str]] = {}
    for name in ("dx_mapping_unscored.csv", "dx_mapping_scored.csv"):
        for row in csv.DictReader(_resource_text(name).splitlines()):
            out[row["SNOMEDCTCode"].strip()] = (row["Dx"].strip(), row["Abbreviation"].strip())
    return out


@dataclass(frozen=True)
class ClassSpace:
    """An ordered set of classes and the mapping from raw SNOMED codes onto it.

    Attributes
    ----------
    classes
        Class names as in ``weights.csv`` (``"a|b"`` for merged equivalents).
    abbreviations
        Short names, e.g. ``"AF"``, ``"CLBBB|LBBB"``.
    """

    classes: tuple[str, ...]
    abbreviations: tuple[str, ...]

    def __len__(self) -> int:
        return len(self.classes)

    @property
    def code_to_index(self) -> dict[str, int]:
        return _code_index(self.classes)

    def index_of(self, code: str) -> int | None:
        """Index of the class that contains ``code`` (any member of an equivalence), else ``None``."""
        return self.code_to_index.get(str(code).strip())

    def encode(self, codes: Iterable[str]) -> np.ndarray:
        """Multi-hot boolean vector for a record's codes; codes outside the space are ignored."""
        vec = np.zeros(len(self.classes), dtype=bool)
        lookup = self.code_to_index
        for code in codes:
            i = lookup.get(str(code).strip())
            if i is not None:
                vec[i] = True
        return vec

    def subset(self, keep: Sequence[int]) -> "ClassSpace":
        """The classes at indices ``keep``, in that order."""
        return ClassSpace(tuple(self.classes[i] for i in keep),
                          tuple(self.abbreviations[i] for i in keep))

    def to_dict(self) -> dict:
        return {"classes": list(self.classes), "abbreviations": list(self.abbreviations)}

    @classmethod
    def from_dict(cls, d: dict) -> "ClassSpace":
        return cls(tuple(d["classes"]), tuple(d["abbreviations"]))


@lru_cache(maxsize=64)
def _code_index(classes: tuple[str, ...]) -> dict[str, int]:
    out: dict[str, int] = {}
    for i, name in enumerate(classes):
        for code in name.split("|"):
            out[code.strip()] = i
    return out


def scored_space() -> ClassSpace:
    """The 26 scored classes of the 2021 Challenge, in ``weights.csv`` order."""
    classes, _ = _weights_table()
    abbr = _abbreviation_by_class()
    return ClassSpace(classes, tuple(abbr[c] for c in classes))


def all_codes_space(codes_seen: Iterable[str]) -> ClassSpace:
    """Every code seen, with scored equivalents merged as in ``weights.csv``.

    Scored classes keep the official naming and order first; other codes follow sorted.
    """
    scored = scored_space()
    lookup = scored.code_to_index
    seen = {str(c).strip() for c in codes_seen if str(c).strip()}
    used_scored = sorted({lookup[c] for c in seen if c in lookup})
    extra = sorted(c for c in seen if c not in lookup)
    mapping = _mapping_rows()
    classes = tuple(scored.classes[i] for i in used_scored) + tuple(extra)
    abbrs = tuple(scored.abbreviations[i] for i in used_scored) + tuple(
        mapping.get(c, ("", c))[1] or c for c in extra)
    return ClassSpace(classes, abbrs)


def describe(code_or_class: str) -> str:
    """Human description of a SNOMED code or merged class (``"atrial fibrillation"``)."""
    mapping = _mapping_rows()
    names = [mapping.get(c.strip(), (c.strip(), ""))[0] for c in code_or_class.split("|")]
    return " | ".join(dict.fromkeys(names))


def weights_matrix(classes: Sequence[str]) -> np.ndarray:
    """The official reward matrix restricted to ``classes`` (names as in ``weights.csv``).

    Raises
    ------
    ValueError
        If a class is not among the scored classes.
    """
    all_classes, matrix = _weights_table()
    index = {c: i for i, c in enumerate(all_classes)}
    missing = [c for c in classes if c not in index]
    if missing:
        raise ValueError(f"classes not in the 2021 scoring weights: {', '.join(missing)}")
    idx = [index[c] for c in classes]
    return matrix[np.ix_(idx, idx)]
