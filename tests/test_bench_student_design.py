"""The student design sweep: its candidates, real-time factor, Pareto front, table and chart."""
import sys
from dataclasses import replace
from pathlib import Path

import pytest

from lrh_tflm.config import StudentConfig

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))
import bench_student_design as B  # noqa: E402


def test_a_dozen_candidates_each_design_explicit_and_buildable():
    from lrh_tflm.models import build_student

    assert len(B.CANDIDATES) >= 12 and "mcu" in B.CANDIDATES
    designs = set()
    for name, cfg in B.CANDIDATES.items():
        build_student(cfg, 2, 256, 17)  # a valid design
        designs.add(tuple(sorted((k, str(v)) for k, v in cfg.design.items())) + (cfg.width,))
        if cfg.variant == B.MICRO:
            # Every lever set: the run key does not move when micro's defaults do.
            assert all(getattr(cfg, k) is not None for k in cfg.design), name
    assert len(designs) == len(B.CANDIDATES)  # no two candidates are the same design
    # Every lever of the issue is moved by at least one candidate.
    micro = [c.design | {"width": c.width} for c in B.CANDIDATES.values() if c.variant == B.MICRO]
    for lever in ("stem_stride", "stem_pool", "separable", "se_blocks", "kernel", "dense", "width",
                  "pool"):
        assert len({str(d[lever]) for d in micro}) > 1, lever


def test_realtime_factor_and_pareto_front():
    # 2-s hop at 64 MHz = 128 M cycles; 16 M instructions at CPI 2 = 32 M cycles → 4×.
    assert B.realtime(16e6, 2.0, 64e6, 2.0) == pytest.approx(4.0)
    assert B._front([(3, 0.8), (1, 0.7), (2, 0.6), (4, 0.9)]) == [(1, 0.7), (3, 0.8), (4, 0.9)]


def _row(name, instructions, auroc):
    cfg = replace(StudentConfig(variant="lrh-net-micro"))
    return {"name": name, "params": 20_000, "macs": 1.2e6, "flash_bytes": 50_000,
            "arena_bytes": 25_000, "instructions": instructions,
            "realtime_at_cpi": {"1.0": 128e6 / instructions, "2.0": 64e6 / instructions},
            "auroc": {"superdiagnostic": auroc, "rhythm": auroc + 0.02}, "design": cfg.design}


def test_table_and_chart(tmp_path):
    rows = [_row("a", 8e6, 0.87), _row("b", 20e6, 0.88)]
    table = B.markdown(rows)
    assert table.count("\n") == 3 and "| a | 20,000 | 1.20 M | 48.8 KB | 24.4 KB | 8.0 M | 8.0 |" in table
    assert B._insn_budget(rows[0]) == pytest.approx(16e6)
    chart = B.pareto_chart(rows, tmp_path / "sweep.png")
    assert chart.stat().st_size > 10_000


def test_seed_summary_groups_runs_by_design_and_kd_beside_the_reference():
    def run(auroc: float) -> dict:
        return {"variant": "lrh-net-micro", "float_auroc": {t: auroc for t in B.TASKS},
                "auroc": {t: auroc + 0.001 for t in B.TASKS}, "f1": {t: 0.5 for t in B.TASKS}}

    results = {"runs": {"s4-k4-se3-s0": run(0.880), "s4-k4-se3-s1": run(0.882),
                        "s4-k4-se3-nokd-s0": run(0.870)}}
    reference = {"runs": {f"student-vanilla-bce-s{s}": {"tasks": {t: {"test_auroc": 0.884,
                                                                      "test_f1": 0.6}
                                                                  for t in B.TASKS}}
                          for s in range(3)}}
    table = B.seeds_markdown(results, reference).splitlines()
    kd = next(line for line in table if line.startswith("| s4-k4-se3 (lrh-net-micro) + KD |"))
    assert "| 2 | 0.881 ± 0.001 / 0.882 ± 0.001 | 0.500 ± 0.000 |" in kd
    alone = next(line for line in table if "alone" in line and "micro" in line)
    assert "| 1 | 0.870 / 0.871 | 0.500 |" in alone
    ref = next(line for line in table if line.startswith("| lrh-net-mcu + KD (bench_ptbxl"))
    assert "| 3 | 0.884 ± 0.000 / — | 0.600 ± 0.000 (float) |" in ref
    assert not any("alone (bench_ptbxl" in line for line in table)  # no such reference runs
