"""The benchmarks plan their KD runs with the build's schedule walk (no copy of the schemes)."""
import sys
from pathlib import Path

from lrh_tflm.config import KD_RECIPES, get_profile

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))
import bench_kd  # noqa: E402
import bench_ptbxl  # noqa: E402


def test_ptbxl_table_has_every_scheme_for_both_recipes_and_teachers_come_first():
    runs = bench_ptbxl.plan(["base", "table"], "bce:vanilla", 3)
    names = [r.name for r in runs]
    assert len(names) == len(set(names))
    for recipe in ("paper", "bce"):
        for scheme in ("vanilla", "parallel", "sequential"):
            assert f"student-{scheme}-{recipe}-s0" in names
    assert {f"student-{k}-s{s}" for k in ("none", "vanilla-bce") for s in range(3)} <= set(names)
    # Every teacher is planned before the run it teaches.
    for i, run in enumerate(runs):
        assert all(t in names[:i] for t in run.teachers), run.name
    by = {r.name: r for r in runs}
    seq = by["student-sequential-paper-s0"]
    assert seq.teachers == ("teacher-12", "assistant-paper")
    assert seq.weights == tuple(KD_RECIPES["paper"].teacher_weights)
    assert by["assistant-paper"].role == "assistant" and by["assistant-paper"].teachers == ("teacher-12",)
    assert by["student-parallel-bce-s0"].teachers == ("teacher-12", "teacher-I,II")
    assert by["student-vanilla-bce-s2"].weights == (1.0,) and by["student-vanilla-bce-s2"].seed == 2


def test_kd_bench_students_are_taught_as_the_schedule_says():
    profile = get_profile("smoke")
    role, _, teachers, weights, prof = bench_kd._plan("student-sequential-kl-softmax", profile)
    assert (role, teachers, prof.kd.scheme, prof.kd.loss) == (
        "student", ("teacher-12", "assistant-seq"), "sequential", "kl-softmax")
    assert weights == tuple(float(w) for w in profile.kd.teacher_weights)
    assert bench_kd._plan("student-parallel-bce-sigmoid", profile)[2] == ("teacher-12", "teacher-2")
    assert bench_kd._plan("student-none", profile)[2:4] == ((), None)
    assert bench_kd._plan("assistant-seq", profile)[2] == ("teacher-12",)


def test_ptbxl_rows_name_the_student_the_results_were_trained_with():
    summary = {"table": {"student-none": {"seeds": 1, "params": 43117, **{
        f"{t}/{m}{s}": 0.5 for t in bench_ptbxl.TASKS for m in ("test_auroc", "test_f1")
        for s in ("", "_std")}}}}
    assert "| LRH-Net-MCU alone (I, II) | 43,117 |" in bench_ptbxl.markdown(summary)  # old files
    micro = bench_ptbxl.markdown(summary, "lrh-net-micro")
    assert "| LRH-Net-Micro alone (I, II) | 43,117 |" in micro and "MCU" not in micro
    assert bench_ptbxl._row_name("student-vanilla-bce", "lrh-net") == "LRH-Net + vanilla KD, `bce` recipe"
