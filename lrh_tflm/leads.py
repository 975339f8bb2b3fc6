"""The one place lead names and lead subsets live.

Canonical order is the PhysioNet/CinC convention: I, II, III, aVR, aVL, aVF, V1–V6.
Lead sets of the 2021 Challenge ("Will Two Do?") are addressed by their size.
"""
from __future__ import annotations

from typing import Iterable, Sequence

import numpy as np

LEADS: tuple[str, ...] = ("I", "II", "III", "aVR", "aVL", "aVF",
                          "V1", "V2", "V3", "V4", "V5", "V6")

LEAD_SETS: dict[int, tuple[str, ...]] = {
    12: LEADS,
    6: ("I", "II", "III", "aVR", "aVL", "aVF"),
    4: ("I", "II", "III", "V2"),
    3: ("I", "II", "V2"),
    2: ("I", "II"),
}

#: Limb leads that follow from I and II (Einthoven's and Goldberger's relations).
DERIVABLE: tuple[str, ...] = ("III", "aVR", "aVL", "aVF")

_CANONICAL_BY_FOLDED = {name.lower(): name for name in LEADS}


class LeadError(ValueError):
    """An unknown lead name or an unusable lead specification."""


def canonical_name(name: str) -> str:
    """Return the canonical spelling of a lead name (case-insensitive: ``avr`` → ``aVR``).

    Raises
    ------
    LeadError
        If ``name`` is not one of the twelve standard leads.
    """
    key = name.strip().lower()
    if key not in _CANONICAL_BY_FOLDED:
        raise LeadError(f"unknown lead {name!r}; known leads: {', '.join(LEADS)}")
    return _CANONICAL_BY_FOLDED[key]


def parse_leads(spec: str | int | Sequence[str]) -> tuple[str, ...]:
    """Turn a lead specification into a tuple of canonical lead names in canonical order.

    Parameters
    ----------
    spec
        A Challenge-2021 set size (``2``, ``"12"``), a comma-separated list
        (``"I,II,V2"``, ``"II"``) or a sequence of names.

    Returns
    -------
    tuple of str
        Lead names without duplicates, in canonical order.

    Raises
    ------
    LeadError
        Unknown lead names, an unknown set size, or an empty specification.
    """
    if isinstance(spec, int) or (isinstance(spec, str) and spec.strip().isdigit()):
        n = int(spec)
        if n not in LEAD_SETS:
            raise LeadError(f"no standard {n}-lead set; choose one of "
                            f"{sorted(LEAD_SETS, reverse=True)} or list leads, e.g. I,II")
        return LEAD_SETS[n]
    names = spec.split(",") if isinstance(spec, str) else list(spec)
    names = [n for n in (str(x).strip() for x in names) if n]
    if not names:
        raise LeadError("empty lead specification")
    chosen = {canonical_name(n) for n in names}
    return tuple(name for name in LEADS if name in chosen)


def lead_indices(leads: Iterable[str], within: Sequence[str] = LEADS) -> list[int]:
    """Indices of ``leads`` inside ``within`` (default: the canonical 12-lead order)."""
    within = list(within)
    out = []
    for name in leads:
        canon = canonical_name(name)
        if canon not in within:
            raise LeadError(f"lead {canon} is not among {', '.join(within)}")
        out.append(within.index(canon))
    return out


def derive_limb_leads(lead_i: np.ndarray, lead_ii: np.ndarray) -> dict[str, np.ndarray]:
    """Derive III, aVR, aVL and aVF from leads I and II.

    III = II − I, aVR = −(I + II)/2, aVL = I − II/2, aVF = II − I/2.
    """
    lead_i = np.asarray(lead_i)
    lead_ii = np.asarray(lead_ii)
    return {
        "III": lead_ii - lead_i,
        "aVR": -(lead_i + lead_ii) / 2,
        "aVL": lead_i - lead_ii / 2,
        "aVF": lead_ii - lead_i / 2,
    }


def label(leads: Sequence[str]) -> str:
    """A short label for a lead set: ``"12"`` for all twelve, else ``"I,II"``."""
    leads = tuple(leads)
    return "12" if leads == LEADS else ",".join(leads)
