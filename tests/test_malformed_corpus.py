"""The malformed-input corpus (:mod:`malformed`) through the CLI: never a traceback, never a
silent acceptance.

Every case runs in-process (click's CliRunner: no interpreter start-up per case) and must
give the expected exit code, a line that names the record or file with the case's reason,
and the right counts of skipped records, warnings and records kept.
"""
from __future__ import annotations

import json
import re
import subprocess
import sys

import pytest
from click.testing import CliRunner
from malformed import CASES, Kit

from lrh_tflm.cli import cli

from conftest import SHARED_DIR, require_shared

PTBXL_UNPACK = SHARED_DIR / "data" / "ptb-xl" / "unpack.py"


@pytest.fixture(scope="module")
def kit(samples_dir, tmp_path_factory) -> Kit:
    require_shared(PTBXL_UNPACK)
    ptbxl = tmp_path_factory.mktemp("ptbxl") / "slice"
    subprocess.run([sys.executable, str(PTBXL_UNPACK), str(ptbxl), "--limit", "3"], check=True,
                   capture_output=True)
    return Kit(samples=samples_dir, ptbxl=ptbxl, model=Kit.fixture_model(),
               cache=tmp_path_factory.mktemp("corpus_cache"))


def test_the_corpus_is_large_and_covers_every_area():
    assert len(CASES) >= 60
    assert len({c.id for c in CASES}) == len(CASES)
    areas = {c.area for c in CASES}
    assert areas >= {"headers", "signals", "demographics", "labels", "ptbxl", "csv", "model",
                     "sidecar", "filesystem"}
    # Every case that does not stop the command must be counted as a problem or a warning,
    # or check what was read (the ones that are handled, such as age 300 or .HEA files).
    for c in CASES:
        assert c.exit_code != 0 or c.problems or c.warnings or c.kept is not None, c.id


def _counts(case, res) -> tuple[dict, list[str]]:
    """(counts found, messages) from the command's output."""
    messages = res.output.splitlines()
    counts: dict = {}
    if case.command in ("inspect", "evaluate") and res.exit_code == 0:
        out = json.loads(res.stdout)
        pairs = out["problems"], out["warnings"]
        messages += [f"{rec}: {reason}" for items in pairs for rec, reason in items]
        counts = {"problems": len(pairs[0]), "warnings": len(pairs[1]), "kept": out["records"]}
        if case.extra is not None:
            case.extra(out)
    elif case.command == "prepare" and res.exit_code == 0:
        text = res.output
        kept = re.search(r"^records\s+(\d+) \(", text, re.M)
        skipped = re.search(r"^(\d+) record\(s\) skipped", text, re.M)
        warned = re.search(r"^(\d+) warning\(s\), records kept", text, re.M)
        counts = {"kept": int(kept.group(1)) if kept else None,
                  "problems": int(skipped.group(1)) if skipped else 0,
                  "warnings": int(warned.group(1)) if warned else 0}
    elif case.command == "run":
        failed = re.search(r"^(\d+) of (\d+) record\(s\) failed", res.output, re.M)
        warned = re.search(r"^(\d+) of (\d+) record\(s\) with warnings", res.output, re.M)
        ran = len(re.findall(r"^\S+\s+start_s", res.stdout, re.M))
        counts = {"problems": int(failed.group(1)) if failed else 0,
                  "warnings": int(warned.group(1)) if warned else 0, "kept": ran}
    return counts, messages


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_malformed_input(case, kit, tmp_path):
    args = case.make(tmp_path, kit)
    res = CliRunner().invoke(cli, args)
    out = res.output
    assert "Traceback" not in out, out
    assert res.exception is None or isinstance(res.exception, SystemExit), \
        f"{type(res.exception).__name__}: {res.exception}\n{out}"
    assert res.exit_code == case.exit_code, out
    counts, messages = _counts(case, res)
    if case.reason is not None:
        named = [m for m in messages if case.name in m]
        assert named, f"nothing names {case.name!r}:\n{out}"
        assert any(re.search(case.reason, m) for m in named), \
            f"no line naming {case.name!r} matches {case.reason!r}:\n" + "\n".join(named)
    for key in ("problems", "warnings", "kept"):
        expected = getattr(case, key)
        if expected is not None:
            assert counts.get(key) == expected, f"{key}: {counts} in\n{out}"
