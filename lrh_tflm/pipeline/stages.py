"""Resumable stages: each writes its own folder and a ``stage.json`` sidecar when it finishes.

A stage is identified by a key: the hash of its configuration and of the keys of the
stages it consumes.  If ``stage.json`` exists with the same key, the stage is reused;
otherwise it runs (again) in its folder (a finished stage it replaces is kept as
``<stage>.previous``).  ``stage.json`` is written last and atomically,
so a build killed mid-stage leaves no finished-looking stage behind, and a stage that
trains can resume from its own checkpoints inside the folder.
"""
from __future__ import annotations

import shutil
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from lrh_tflm import __version__
from lrh_tflm.io import config_hash, read_json, to_jsonable, write_json_atomic

STAGE_FILE = "stage.json"
STARTED_FILE = "stage.started.json"


@dataclass
class StageResult:
    """What a finished (or reused) stage reports."""

    name: str
    key: str
    folder: Path
    summary: dict
    seconds: float
    reused: bool


@dataclass
class StageRunner:
    """Runs or reuses stages under ``out``, logging one line per stage.

    Parameters
    ----------
    out
        Build folder; stage ``name`` lives in ``out / name``.
    log
        Callable taking one line of text (``click.echo`` in the CLI).
    """

    out: Path
    log: Callable[[str], None] = print
    results: dict[str, StageResult] = field(default_factory=dict)

    def run(self, name: str, key_material: dict, fn: Callable[[Path], dict],
            describe: Callable[[dict], str] | None = None) -> StageResult:
        """Run stage ``name`` unless a finished one with the same key exists.

        ``fn(folder)`` does the work and returns a JSON-able summary dict.
        """
        folder = Path(self.out) / name
        material = {"stage": name, "version": __version__, **to_jsonable(key_material)}
        key = config_hash(material)
        done = folder / STAGE_FILE
        if done.exists():
            meta = read_json(done)
            if meta.get("key") == key:
                res = StageResult(name, key, folder, meta.get("summary", {}), meta.get("seconds", 0.0), True)
                self.results[name] = res
                self.log(f"[{name}] reused ({_line(res.summary, describe)})")
                return res
        started = folder / STARTED_FILE
        if folder.exists() and not (started.exists() and read_json(started).get("key") == key):
            # Different configuration: start clean rather than mixing artefacts, but keep the
            # finished work it replaces as ``<stage>.previous`` (one generation): a changed
            # key can come from code or data-version drift, and a trained model is hours.
            if done.exists():
                previous = folder.with_name(f"{name}.previous")
                shutil.rmtree(previous, ignore_errors=True)
                folder.rename(previous)
                self.log(f"[{name}] configuration changed: the finished stage is kept as "
                         f"{previous.name}")
            else:
                shutil.rmtree(folder)
        folder.mkdir(parents=True, exist_ok=True)
        resumed = started.exists()
        write_json_atomic(started, {"key": key, "material": material})
        t0 = time.perf_counter()
        if resumed:
            self.log(f"[{name}] resuming an interrupted run")
        summary = fn(folder)
        seconds = time.perf_counter() - t0
        write_json_atomic(done, {"name": name, "key": key, "seconds": seconds,
                                 "summary": to_jsonable(summary), "material": material})
        started.unlink(missing_ok=True)
        res = StageResult(name, key, folder, to_jsonable(summary), seconds, False)
        self.results[name] = res
        self.log(f"[{name}] done in {seconds:.1f} s ({_line(res.summary, describe)})")
        return res


def _line(summary: dict, describe: Callable[[dict], str] | None) -> str:
    if describe is not None:
        return describe(summary)
    parts = []
    for k, v in summary.items():
        if isinstance(v, float):
            parts.append(f"{k}={v:.3f}")
        elif isinstance(v, (int, str)) and len(str(v)) < 40:
            parts.append(f"{k}={v}")
    return ", ".join(parts[:6])
