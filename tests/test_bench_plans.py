"""The benchmarks plan their KD runs with the build's schedule walk (no copy of the schemes)."""
import sys
from dataclasses import replace
from pathlib import Path

import pytest

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


def test_ptbxl_study_of_later_students_varies_one_thing_of_bce_at_a_time():
    pairs = bench_ptbxl.study("lrh-net-micro")
    assert bench_ptbxl.study("lrh-net-mcu") == bench_ptbxl.STUDIES["lrh-net-mcu"]  # as it was run
    recipes = {r for _, r in pairs}
    assert {"paper", "bce", "mse"} <= recipes  # the three losses
    base = KD_RECIPES["bce"]
    for _, name in pairs:
        if name.startswith("bce-"):
            r = KD_RECIPES[name]
            changed = {f for f in ("alpha", "temperature", "t_squared", "teacher_weights",
                                   "ensemble", "epochs") if getattr(r, f) != getattr(base, f)}
            assert r.loss == base.loss and 1 <= len(changed) <= 2, (name, changed)
    # Two-teacher ideas run in the two-teacher scheme.
    assert ("parallel", "bce-w0.7") in pairs and ("parallel", "bce-ensemble") in pairs


def _tasks(val: float) -> dict:
    return {t: {"val_auroc": val, "test_auroc": 1.0 - val} for t in bench_ptbxl.TASKS}


def test_the_best_recipe_is_chosen_on_fold_9_only():
    runs = {"student-none-s0": {"tasks": _tasks(0.99)},  # the baseline is not a candidate
            "student-vanilla-bce-s0": {"tasks": _tasks(0.90)},
            "student-parallel-bce-ensemble-s0": {"tasks": _tasks(0.91)},
            "student-vanilla-paper-s0": {"tasks": _tasks(0.80)}}
    assert bench_ptbxl.choose_best({"runs": runs}, "lrh-net-micro") == "bce-ensemble:parallel"
    # Fold 10 does not move the choice.
    runs["student-vanilla-paper-s0"]["tasks"] = {
        t: {"val_auroc": 0.80, "test_auroc": 0.999} for t in bench_ptbxl.TASKS}
    assert bench_ptbxl.choose_best({"runs": runs}, "lrh-net-micro") == "bce-ensemble:parallel"
    with pytest.raises(SystemExit, match="study"):
        bench_ptbxl.choose_best({"runs": {}}, "lrh-net-micro")


def test_only_a_build_stage_trained_exactly_alike_is_adopted(tmp_path):
    from dataclasses import asdict

    from lrh_tflm.io import write_json_atomic

    profile = get_profile("ptbxl")
    run = bench_ptbxl.Run("teacher-12", "teacher", bench_ptbxl.LEADS)
    material = {"stage": "teacher-12", "data": {"cache": "abc"}, "profile": "ptbxl",
                "role": "teacher", "leads": list(bench_ptbxl.LEADS), "seed": 0,
                "model": asdict(profile.teacher), "train": asdict(profile.teacher_train),
                "teachers": [], "kd": None}
    stage = tmp_path / "teacher-12"
    (stage / "model").mkdir(parents=True)
    (stage / "model" / "sidecar.json").write_text("{}")
    (stage / "predictions.npz").write_bytes(b"npz")
    write_json_atomic(stage / "stage.json", {"summary": {"epochs": 10, "model_dir": "x"},
                                             "material": material})
    assert bench_ptbxl.adoptable(tmp_path, run, profile, profile.teacher_train, "abc") == stage
    # Another data preparation, training config or seed: trained again.
    assert bench_ptbxl.adoptable(tmp_path, run, profile, profile.teacher_train, "abd") is None
    assert bench_ptbxl.adoptable(tmp_path, run, profile,
                                 replace(profile.teacher_train, epochs=3), "abc") is None
    assert bench_ptbxl.adoptable(tmp_path, replace(run, seed=1), profile,
                                 profile.teacher_train, "abc") is None
    # Distilled runs and runs a build has no stage for are never adopted.
    assert bench_ptbxl.adoptable(tmp_path, replace(run, teachers=("x",)), profile,
                                 profile.teacher_train, "abc") is None
    assert bench_ptbxl.adoptable(tmp_path / "nowhere", run, profile, profile.teacher_train,
                                 "abc") is None
    out = tmp_path / "bench" / "teacher-12"
    out.mkdir(parents=True)
    summary = bench_ptbxl.adopt(stage, out)
    assert summary["model_dir"] == str(out / "model") and summary["adopted_from"] == str(stage)
    assert (out / "model" / "sidecar.json").exists() and (out / "predictions.npz").read_bytes() == b"npz"


def test_kd_bench_recipe_pairs_replace_the_whole_kd_config():
    profile = get_profile("smoke")
    pairs = bench_kd.parse_pairs(["ptbxl", "sequential:bce"], "lrh-net-micro")
    assert pairs[:len(bench_ptbxl.study("lrh-net-micro"))] == list(bench_ptbxl.study("lrh-net-micro"))
    assert ("sequential", "paper") in pairs and pairs[-1] == ("sequential", "bce")
    names = bench_kd.configs(pairs)
    assert names.index("assistant-seq-bce") < names.index("student-sequential-bce")
    role, _, teachers, weights, prof = bench_kd._plan("student-sequential-bce", profile)
    assert teachers == ("teacher-12", "assistant-seq-bce")
    assert prof.kd == replace(KD_RECIPES["bce"], scheme="sequential")
    _, _, teachers, weights, prof = bench_kd._plan("student-parallel-bce-w0.7", profile)
    assert weights == (0.7, 0.3) and prof.kd.loss == "bce-sigmoid"
    _, _, teachers, _, prof = bench_kd._plan("assistant-seq-paper", profile)
    assert teachers == ("teacher-12",) and prof.kd.loss == "kl-softmax"
    with pytest.raises(SystemExit, match="SCHEME:RECIPE"):
        bench_kd.parse_pairs(["vanilla:nope"], "lrh-net-micro")
    # The loss mode of the earlier results files is unchanged.
    assert "student-vanilla-kl-softmax" in bench_kd.configs() and "assistant-seq" in bench_kd.configs()


def test_the_goals_are_checked_on_the_best_recipe_against_the_student_alone():
    def row(sd, rh, seeds=3):
        return {"seeds": seeds, "params": 1, **{f"{t}/{m}": v
                for t, v in (("superdiagnostic", sd), ("rhythm", rh))
                for m in ("test_auroc", "test_f1", "val_auroc", "val_f1")},
                **{f"{t}/{m}_std": 0.0 for t in bench_ptbxl.TASKS
                   for m in ("test_auroc", "test_f1", "val_auroc", "val_f1")}}

    summary = {"table": {"teacher-I,II": row(0.880, 0.930, 1), "student-none": row(0.880, 0.900),
                         "student-vanilla-bce": row(0.885, 0.925)}, "best": "bce:vanilla"}
    base = summary["table"]["student-none"]
    summary["gains"] = {"student-vanilla-bce": {
        f"{t}/{m}": (100 * (summary["table"]["student-vanilla-bce"][f"{t}/{m}"] - base[f"{t}/{m}"])
                     if m.endswith("auroc") else
                     100 * (summary["table"]["student-vanilla-bce"][f"{t}/{m}"] / base[f"{t}/{m}"] - 1))
        for t in bench_ptbxl.TASKS for m in ("val_auroc", "test_auroc", "val_f1", "test_f1")}}
    sd, rh = bench_ptbxl.goals(summary)
    assert sd.startswith("- superdiagnostic: +0.50 AUROC points (not met), +0.6 % F1 (not met), "
                         "0.50 points above the I,II teacher (met)")
    assert rh.startswith("- rhythm: +2.50 AUROC points (met), +2.8 % F1 (not met), "
                         "0.50 points below the I,II teacher (met)")
    assert "against the goals" in bench_ptbxl.markdown(summary)
    assert bench_ptbxl.goals({**summary, "best": None}) == []


def test_a_patient_recipe_is_judged_against_the_student_alone_trained_as_long():
    epochs = KD_RECIPES["bce-patient"].epochs
    runs = {r.name: r for r in bench_ptbxl.plan(["base", "table"], "bce-patient:vanilla", 3,
                                                "lrh-net-micro")}
    for seed in range(3):
        alone = runs[f"student-none-e{epochs}-s{seed}"]
        assert alone.epochs == epochs and alone.teachers == () and alone.seed == seed
    # Runs without the field keep the keys they were trained under.
    profile = get_profile("ptbxl")
    key = bench_ptbxl.run_key(runs["student-none-s0"], profile, profile.student_train, "k", [])
    assert "epochs" not in key["run"]
    assert "student-none-e20-s0" not in {r.name for r in bench_ptbxl.plan(["base", "table"], "bce:vanilla", 1)}
    assert bench_ptbxl._row_name("student-none-e20", "lrh-net-micro") == "LRH-Net-Micro alone (I, II), 20 epochs"
    names = bench_kd.configs([("vanilla", "bce-patient")])
    assert f"student-none-e{epochs}" in names
    _, _, teachers, _, prof = bench_kd._plan(f"student-none-e{epochs}", get_profile("default"))
    assert teachers == () and prof.student_train.epochs == epochs


def test_summary_gains_of_a_patient_recipe_are_also_against_the_student_alone_as_long():
    def run(v):
        return {"params": 1, "tasks": {t: {m: v for m in ("test_auroc", "test_f1", "val_auroc", "val_f1")}
                                       for t in bench_ptbxl.TASKS}}

    results = {"runs": {"teacher-I,II": run(0.90), "student-none-s0": run(0.80),
                        "student-none-e20-s0": run(0.85), "student-vanilla-bce-patient-s0": run(0.86),
                        "student-vanilla-bce-s0": run(0.81)}}
    summary = bench_ptbxl.summarise(results, "bce-patient:vanilla")
    assert round(summary["gains"]["student-vanilla-bce-patient"]["rhythm/test_auroc"], 6) == 6.0
    assert round(summary["gains_same_epochs"]["student-vanilla-bce-patient"]["rhythm/test_auroc"], 6) == 1.0
    assert "student-vanilla-bce" not in summary["gains_same_epochs"]
    text = bench_ptbxl.markdown(summary, "lrh-net-micro")
    assert "against the student alone trained as long, 20 epochs: superdiagnostic +1.00 points" in text
    assert "LRH-Net-Micro alone (I, II), 20 epochs" in text
    assert "; against the student alone trained as long: +1.00 points (met)" in text
