"""Small I/O helpers: atomic writes (no half-written artefact survives a kill) and hashing."""
from __future__ import annotations

import csv
import hashlib
import json
import os
import tempfile
from dataclasses import asdict, is_dataclass
from pathlib import Path

import numpy as np


def write_bytes_atomic(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` through a temporary file in the same folder and ``os.replace``."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=path.name + ".", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def write_text_atomic(path: Path, text: str) -> None:
    """Atomic text write (UTF-8)."""
    write_bytes_atomic(path, text.encode("utf-8"))


def to_jsonable(obj):
    """Convert numpy scalars/arrays, paths, tuples and dataclasses to JSON-friendly values."""
    if is_dataclass(obj) and not isinstance(obj, type):
        return to_jsonable(asdict(obj))
    if isinstance(obj, dict):
        return {str(k): to_jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [to_jsonable(v) for v in obj]
    if isinstance(obj, np.integer):
        return int(obj)
    if isinstance(obj, np.floating):
        return float(obj)
    if isinstance(obj, np.bool_):
        return bool(obj)
    if isinstance(obj, np.ndarray):
        return to_jsonable(obj.tolist())
    if isinstance(obj, Path):
        return str(obj)
    return obj


def write_json_atomic(path: Path, obj) -> None:
    """Write ``obj`` as indented JSON, atomically."""
    write_text_atomic(path, json.dumps(to_jsonable(obj), indent=2) + "\n")


def read_json(path: Path):
    with open(path) as fh:
        return json.load(fh)


def sha256_bytes(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def sha256_file(path: Path, chunk: int = 1 << 20) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(chunk), b""):
            h.update(block)
    return h.hexdigest()


def config_hash(obj, length: int = 16) -> str:
    """Stable short hash of a (dataclass) config: JSON with sorted keys, SHA-256."""
    text = json.dumps(to_jsonable(obj), sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()[:length]


def finite(obj):
    """NaN/inf → None, recursively, so JSON written from metrics is strict JSON."""
    if isinstance(obj, dict):
        return {k: finite(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [finite(v) for v in obj]
    if isinstance(obj, (float, np.floating)):
        return float(obj) if np.isfinite(obj) else None
    return obj


def read_history(path: Path) -> dict:
    """A Keras ``CSVLogger`` file (``history.csv``) as column → list of floats (``epoch`` as ints).

    A missing file gives ``{}``.
    """
    path = Path(path)
    if not path.exists():
        return {}
    with open(path, newline="") as fh:
        rows = list(csv.DictReader(fh))
    out: dict[str, list] = {}
    for row in rows:
        for k, v in row.items():
            out.setdefault(k, []).append(int(v) if k == "epoch" else float(v))
    return out


def replace_marked(text: str, name: str, body: str) -> str:
    """``text`` with the block between ``<!-- name:start -->`` and ``<!-- name:end -->``
    replaced by ``body`` (generated README tables).

    Raises
    ------
    ValueError
        The markers are missing.
    """
    start, end = f"<!-- {name}:start -->", f"<!-- {name}:end -->"
    if start not in text or end not in text:
        raise ValueError(f"markers {start} / {end} not found")
    head, rest = text.split(start, 1)
    _, tail = rest.split(end, 1)
    return f"{head}{start}\n{body}\n{end}{tail}"
