"""Print the latest benchmark figures as Markdown tables, from ``benchmarks/results/*.json``.

Run: ``python benchmarks/summarise.py`` (no TensorFlow, instant) to print them, or
``python benchmarks/summarise.py --readme`` to replace everything below the marker line in
``benchmarks/README.md`` with them.
"""
from __future__ import annotations

import json
import sys
from pathlib import Path

RESULTS = Path(__file__).resolve().parent / "results"


def _load(name: str) -> dict | None:
    path = RESULTS / name
    return json.loads(path.read_text()) if path.exists() else None


def _f(x, fmt="{:.3f}") -> str:
    return "n/a" if x is None else fmt.format(x)


def _table(header: list[str], rows: list[list[str]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(str(c) for c in r) + " |" for r in rows]
    return "\n".join(lines)


def models_table(d: dict) -> str:
    rows = [[name, f"{m['trainable']:,}", f"{m['total']:,}", f"{m['macs'] / 1e6:.1f} M"]
            for name, m in d["models"].items()]
    c = d["paper_check"]
    out = (_table(["model", "trainable", "total", "MACs/window"], rows)
            + f"\n\nPaper check: teacher 2 leads {c['teacher_2_leads_trainable']:,} "
              f"(expected {c['teacher_expected']:,}: {'match' if c['teacher_matches'] else 'MISMATCH'}), "
              f"LRH-Net {c['student_2_leads_trainable']:,} (expected {c['student_expected']:,}: "
              f"{'match' if c['student_matches'] else 'MISMATCH'}), ratio "
              f"{c['param_ratio_teacher_over_student']}×; MACs teacher 12 leads / LRH-Net "
              f"{c['mac_ratio_teacher12_over_student']}×.")
    lat = d.get("paper_size_latency")
    if lat:
        rows = [[name, f"{m['ms']:.2f}", f"{m['bytes']:,}",
                 "" if "reduction_vs_teacher_pct" not in m else f"{m['reduction_vs_teacher_pct']:.1f} %"]
                for name, m in lat["models"].items()]
        out += (f"\n\nPaper-size models ({lat['window']} samples, {lat['classes']} classes, random "
                f"weights), LiteRT XNNPACK, {lat['threads']} thread, median of {lat['runs']}:\n\n"
                + _table(["model", "ms/window", "flatbuffer B", "latency reduction vs teacher"], rows))
    return out


def kd_table(d: dict) -> str:
    s = d["setup"]
    table = d["summary"]["table"]
    rows = []
    for config, r in table.items():
        sc, au = r["test_score"], r["test_auroc"]
        gain = r.get("test_score_gain_rel_pct")
        rows.append([config, f"{_f(sc['mean'])} ± {_f(sc['std'])}", f"{_f(au['mean'])} ± {_f(au['std'])}",
                     "" if gain is None else f"{gain:+.1f} %", _f(r["samples_per_s"]["mean"], "{:.0f}"),
                     sc["n"]])
    gap = d["summary"]["teacher_12_minus_2_leads"]
    student = f", student `{s['student']}`" if s.get("student") else ""
    return (f"Profile `{s['profile']}`{student}, teacher/student epochs {s['teacher_epochs']}/{s['student_epochs']}, "
            f"{s['records']} records ({d['splits']['train']}/{d['splits']['val']}/{d['splits']['test']} "
            f"train/val/test), {d['classes']} classes, seeds {d['seeds']}.\n\n"
            + _table(["config", "test challenge score", "test macro AUROC", "score gain vs none",
                      "train samples/s", "n"], rows)
            + f"\n\n12-lead minus 2-lead teacher: score {_f(gap['test_score'], '{:+.3f}')}, "
              f"AUROC {_f(gap['test_auroc'], '{:+.3f}')}.")


def quant_table(d: dict) -> str:
    rows = []
    for v, r in d["variants"].items():
        for kind in ("qat_int8", "ptq_int8"):
            q = r[kind]
            rows.append([v, kind.replace("_", "-"), _f(r["float"]["test_score"]), _f(q["test_score"]),
                         _f(q["score_drop_points"], "{:+.2f}"), _f(r["float"]["test_auroc"]),
                         _f(q["test_auroc"]), f"{q['flatbuffer_bytes']:,}", f"{q['arena_bytes']:,}",
                         f"{r['macs_per_window'] / 1e6:.1f} M"])
    lat = [[v, f"{r['latency_ms']['teacher_float']:.2f}", f"{r['latency_ms']['student_float']:.2f}",
            f"{r['latency_ms']['student_int8_qat']:.2f}", f"{r['latency_ms']['student_int8_ptq']:.2f}",
            f"{r['latency_reduction_pct_teacher_to_student_float']:.1f} %",
            f"{r['latency_reduction_pct_teacher_to_student_int8']:.1f} %"]
           for v, r in d["variants"].items()]
    out = (f"Profile `{d['profile']}`.\n\n"
           + _table(["student", "int8", "float score", "int8 score", "drop (points)", "float AUROC",
                     "int8 AUROC", "flatbuffer B", "arena B", "MACs"], rows)
           + "\n\nSingle-thread LiteRT latency per window (ms, median):\n\n"
           + _table(["student", "teacher float", "student float", "student int8 (QAT)",
                     "student int8 (PTQ)", "reduction float", "reduction int8"], lat))
    mcu = d["variants"].get("lrh-net-mcu", {}).get("targets")
    if mcu:
        out += "\n\nLRH-Net-MCU targets: " + ", ".join(
            f"{k}: {'met' if v else ('n/a' if v is None else 'NOT met')}" for k, v in mcu.items()) + "."
    return out


def build_table(d: dict) -> str:
    rows = [["cold (empty cache, fresh out)", _f(d.get("cold_s"), "{:.1f}")],
            ["warm data cache, fresh out", _f(d.get("warm_cache_s"), "{:.1f}")],
            ["rerun (all stages reused)", _f(d.get("rerun_s"), "{:.1f}")],
            [f"make demo from a fresh clone ({d.get('make_demo_profile') or 'not run'})",
             _f(d.get("make_demo_fresh_clone_s"), "{:.1f}")]]
    return f"Profile `{d['profile']}`, {d['repeats']} repeat(s).\n\n" + _table(["build", "seconds"], rows)


MARKER = "<!-- generated by: python benchmarks/summarise.py -->"


def main() -> str:
    parts = []
    for title, name, fn in [("Model sizes", "models.json", models_table),
                            ("Knowledge distillation", "kd.json", kd_table),
                            ("Knowledge distillation (default profile, reduced epochs)",
                             "kd-default.json", kd_table),
                            ("Knowledge distillation (default profile, full epochs)",
                             "kd-default-full.json", kd_table),
                            ("Knowledge distillation: the PTB-XL study's recipes on the "
                             "synthetic default", "kd-default-recipes.json", kd_table),
                            ("Quantisation", "quant.json", quant_table),
                            ("Quantisation (default profile)", "quant-default.json", quant_table),
                            ("Build wall time", "build.json", build_table)]:
        d = _load(name)
        if d is not None:
            load = d.get("machine", {}).get("load_average_1min")
            parts.append(f"### {title} (`results/{name}`)\n\n{fn(d)}\n\n"
                         f"_Load average when written: {load} on {d.get('machine', {}).get('cpu_count')} cores._")
    text = "\n\n".join(parts)
    print(text)
    if "--readme" in sys.argv[1:]:
        readme = Path(__file__).resolve().parent / "README.md"
        head = readme.read_text().split(MARKER)[0]
        readme.write_text(head + MARKER + "\n\n" + text + "\n")
    return text


if __name__ == "__main__":
    main()
