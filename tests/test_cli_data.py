"""`lrh-tflm data inspect` / `data prepare` through click, on the real PhysioNet samples."""
import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from lrh_tflm.cli import cli

from conftest import SAMPLES_DIR as SAMPLES  # ../shared beside the checkout

# The shared samples folder: skipped when absent, failed when CI=true (conftest.require_shared).
needs_samples = pytest.mark.usefixtures("samples_dir")


def run(*args):
    return CliRunner().invoke(cli, ["data", *map(str, args)])


@needs_samples
def test_inspect_json_keys(tmp_path):
    res = run("inspect", SAMPLES / "cinc2021", "--json", "--no-progress", "--cache", tmp_path)
    assert res.exit_code == 0, res.output
    summary = json.loads(res.stdout)      # exactly one JSON object on stdout
    for key in ("records", "labels", "problems", "fs", "durations", "leads", "spec"):
        assert key in summary
    assert summary["records"] + len(summary["problems"]) == summary["listed"]
    assert summary["fs"] == {"500": summary["records"]}
    # Chapman-Ningbo's dead V2/V4/V6: kept (as zeros), with a warning, not skipped.
    assert "JS20004" not in dict(summary["problems"])
    warnings = dict(summary["warnings"])
    assert "flat line in lead(s) V2, V4, V6" in warnings["JS20004"]
    assert "kept as zeros" in warnings["JS20004"]
    codes = {row["code"]: row for row in summary["labels"]}
    assert codes["426783006"]["abbreviation"] == "NSR" and codes["426783006"]["count"] >= 1


def _with_a_broken_record(tmp_path: Path) -> Path:
    """A copy of cinc2021 whose E07503.mat is cut short."""
    folder = tmp_path / "cinc2021"
    shutil.copytree(SAMPLES / "cinc2021", folder)
    mat = folder / "E07503.mat"
    mat.write_bytes(mat.read_bytes()[:1000])
    return folder


@needs_samples
def test_inspect_table_and_strict(tmp_path):
    res = run("inspect", SAMPLES / "cinc2021", "--no-progress", "--cache", tmp_path)
    assert res.exit_code == 0, res.output
    assert "records    50 readable of 50 listed, 2 warning(s)" in res.stdout
    assert "JS20004: flat line in lead(s) V2, V4, V6" in res.stdout
    # Warnings never stop a strict run; a broken record does.
    res = run("inspect", SAMPLES / "cinc2021", "--strict", "--no-progress", "--cache", tmp_path)
    assert res.exit_code == 0, res.output
    res = run("inspect", _with_a_broken_record(tmp_path), "--strict", "--no-progress",
              "--cache", tmp_path)
    assert res.exit_code == 1
    assert re.search(r"Error: E07503: unreadable E07503\.mat", res.output)
    assert "Traceback" not in res.output


@needs_samples
def test_inspect_unlabelled_needs_flag(tmp_path):
    folder = SAMPLES / "cinc2020-unlabeled"
    res = run("inspect", folder, "--json", "--no-progress", "--cache", tmp_path)
    summary = json.loads(res.stdout)
    assert any("no labels" in reason for _, reason in summary["problems"])
    res = run("inspect", folder, "--json", "--no-labels-required", "--no-progress",
              "--cache", tmp_path)
    summary = json.loads(res.stdout)
    assert summary["records_without_labels"] == summary["records"] > 0
    assert not any("no labels" in reason for _, reason in summary["problems"])


@needs_samples
def test_prepare_real_samples_and_reuse(tmp_path):
    res = run("prepare", SAMPLES, "--profile", "smoke", "--cache", tmp_path, "--no-progress",
              "--workers", "2")
    assert res.exit_code == 0, res.output
    line = next(l for l in res.stdout.splitlines() if l.startswith("prepared"))
    folder = Path(line.split(None, 1)[1])
    assert folder.parent == tmp_path / "prepared" and (folder / "manifest.json").is_file()
    manifest = json.loads((folder / "manifest.json").read_text())
    problems = json.loads((folder / "problems.json").read_text())["problems"]
    assert manifest["n_records"] > 50 and manifest["fs"] == 100.0
    assert manifest["n_records"] + manifest["n_skipped"] == manifest["n_listed"]
    warnings = json.loads((folder / "problems.json").read_text())["warnings"]
    assert "A0001" in {p["record"] for p in problems}
    assert {"JS20004", "JS20008"} <= {p["record"] for p in warnings}
    assert not {"JS20004", "JS20008"} & {p["record"] for p in problems}
    assert manifest["n_warnings"] == len(warnings)
    assert f"{len(problems)} record(s) skipped" in res.stdout
    assert f"{len(warnings)} warning(s), records kept" in res.stdout
    assert "NSR" in res.stdout
    mtime = (folder / "x.npy").stat().st_mtime_ns
    again = run("prepare", SAMPLES, "--profile", "smoke", "--cache", tmp_path, "--no-progress")
    assert again.exit_code == 0 and line in again.stdout
    assert f"{len(problems)} record(s) skipped" in again.stdout
    assert f"{len(warnings)} warning(s), records kept" in again.stdout
    assert (folder / "x.npy").stat().st_mtime_ns == mtime


@needs_samples
def test_prepare_strict_names_record(tmp_path):
    res = run("prepare", _with_a_broken_record(tmp_path), "--strict", "--cache", tmp_path,
              "--no-progress")
    assert res.exit_code == 1
    assert re.search(r"Error: E07503: unreadable E07503\.mat", res.output)
    assert "Traceback" not in res.output
    assert not (tmp_path / "prepared").exists() or not any((tmp_path / "prepared").iterdir())


@needs_samples
def test_prepare_unlabelled_only_is_dataset_error(tmp_path):
    res = run("prepare", SAMPLES / "cinc2020-unlabeled", "--cache", tmp_path, "--no-progress")
    assert res.exit_code == 1
    assert "Error: no readable records in" in res.output
    assert "no labels" in res.output and "Traceback" not in res.output


def test_prepare_empty_folder(tmp_path):
    empty = tmp_path / "empty"
    empty.mkdir()
    for cmd in ("prepare", "inspect"):
        res = run(cmd, empty, "--cache", tmp_path / "c", "--no-progress")
        assert res.exit_code == 1
        assert res.output.startswith("Error: ") and "Traceback" not in res.output


@needs_samples
def test_data_commands_do_not_import_tensorflow(tmp_path):
    code = (
        "import sys\n"
        "from click.testing import CliRunner\n"
        "from lrh_tflm.cli import cli\n"
        f"r = CliRunner().invoke(cli, ['data', 'prepare', {str(SAMPLES / 'cinc2020')!r}, '--cache',"
        f" {str(tmp_path)!r}, '--profile', 'smoke', '--no-progress', '--workers', '1'])\n"
        "assert r.exit_code == 0, r.output\n"
        "r = CliRunner().invoke(cli, ['data', 'inspect', "
        f"{str(SAMPLES / 'cinc2020')!r}, '--json', '--no-progress', '--workers', '1'])\n"
        "assert r.exit_code == 0, r.output\n"
        "print('tensorflow' in sys.modules)\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip().splitlines()[-1] == "False"


def test_prepare_synthetic_default(tmp_path):
    # DATA defaults to the built-in synthetic set, generated once into the cache.
    res = run("prepare", "--profile", "smoke", "--cache", tmp_path, "--no-progress")
    assert res.exit_code == 0, res.output
    folder = Path(next(l for l in res.stdout.splitlines() if l.startswith("prepared")).split()[1])
    manifest = json.loads((folder / "manifest.json").read_text())
    assert folder.name.startswith("challenge-") and manifest["spec"].startswith("synthetic:")
    assert manifest["n_records"] == 160 and manifest["cache_len"] == 1000
    assert len(manifest["class_counts"]) >= 5
