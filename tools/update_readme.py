"""Regenerate the README's results table from a build's ``benchmark.json``.

Usage: ``python tools/update_readme.py build/report/benchmark.json [README.md]``.
The table sits between the ``<!-- results:start -->`` and ``<!-- results:end -->`` markers.
"""
from __future__ import annotations

import json
import sys
from pathlib import Path

from lrh_tflm.io import replace_marked


def _f(v, fmt="{:.3f}"):
    return "—" if v is None else fmt.format(v)


def results_table(b: dict) -> str:
    score, auroc = b.get("score", {}), b.get("auroc", {})
    params, macs = b.get("params", {}), b.get("macs", {})
    lat = b.get("latency_ms", {})
    rows = [
        ("teacher, 12 leads", "teacher-12", params.get("teacher"), macs.get("teacher"), lat.get("teacher_float")),
        ("teacher, reduced leads", "teacher-reduced", params.get("assistant"), macs.get("assistant"), None),
        ("LRH-Net alone", "student-none", params.get("student"), macs.get("student"), lat.get("student_float")),
        ("LRH-Net + KD", "student-kd", params.get("student"), macs.get("student"), lat.get("student_float")),
        ("LRH-Net + KD, int8", "student-int8", params.get("student"), macs.get("student"), lat.get("student_int8")),
    ]
    lines = ["| model | challenge score | macro AUROC | trainable params | MACs/window | LiteRT ms/window |",
             "|---|---|---|---|---|---|"]
    for label, key, p, m, l in rows:
        lines.append(f"| {label} | {_f(score.get(key))} | {_f(auroc.get(key))} | "
                     f"{_f(p, '{:,}')} | {_f(m, '{:,}')} | {_f(l, '{:.2f}')} |")
    m = b.get("machine", {})
    lines += ["",
              f"KD gain {_f(b.get('kd_gain_pct'), '{:+.1f}')} % (relative), int8 drop "
              f"{_f(b.get('qat_drop_points'), '{:+.2f}')} points, teacher→student latency "
              f"−{_f(b.get('latency_reduction_pct'), '{:.0f}')} %, int8 model {_f(b.get('tflite_bytes'), '{:,}')} B, "
              f"TFLM arena {_f(b.get('arena_bytes'), '{:,}')} B, TFLM == LiteRT-reference on "
              f"{_f(100 * b['parity']['exact_tflm_ref'] if b.get('parity') else None, '{:.0f}')} % of windows.",
              "",
              f"Profile `{b.get('profile', '?')}`, leads {b.get('leads', '?')}, KD `{b.get('kd', '?')}`, student "
              f"`{b.get('student', '?')}`, synthetic default; measured on {m.get('description', 'unknown machine')} "
              f"({b.get('created', '')}). {_build_time(b)}"]
    return "\n".join(lines)


def _build_time(b: dict) -> str:
    """The build's time; a rerun that reused stages says how long the stages took to run."""
    wall = b.get("total_seconds")
    stages = sum((b.get("stage_seconds") or {}).values())
    if wall is not None and stages > wall:
        return (f"The stages took {stages:.0f} s to run (this invocation reused them: "
                f"{wall:.0f} s wall).")
    return f"Build wall time {_f(wall, '{:.0f}')} s."


def main(argv: list[str]) -> int:
    bench = json.loads(Path(argv[1]).read_text())
    readme = Path(argv[2] if len(argv) > 2 else "README.md")
    try:
        text = replace_marked(readme.read_text(), "results", results_table(bench))
    except ValueError as err:
        print(f"{readme}: {err}", file=sys.stderr)
        return 1
    readme.write_text(text)
    print(f"updated {readme}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
