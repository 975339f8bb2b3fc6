"""StageRunner: reuse on an unchanged key, resume an interrupted stage, never lose finished work."""
import pytest

from lrh_tflm.pipeline.stages import STAGE_FILE, STARTED_FILE, StageRunner


def _stage(calls, text="model"):
    def fn(folder):
        calls.append(folder)
        (folder / "weights.txt").write_text(text)
        return {"text": text}
    return fn


def test_unchanged_key_is_reused_without_running(tmp_path):
    calls = []
    first = StageRunner(tmp_path, lambda line: None).run("train", {"lr": 1}, _stage(calls))
    again = StageRunner(tmp_path, lambda line: None).run("train", {"lr": 1}, _stage(calls))
    assert len(calls) == 1 and not first.reused and again.reused
    assert again.key == first.key and again.summary == {"text": "model"}


def test_changed_key_keeps_the_finished_stage_it_replaces(tmp_path):
    lines = []
    StageRunner(tmp_path, lines.append).run("train", {"lr": 1}, _stage([], "old"))
    StageRunner(tmp_path, lines.append).run("train", {"lr": 2}, _stage([], "new"))
    assert (tmp_path / "train" / "weights.txt").read_text() == "new"
    kept = tmp_path / "train.previous"
    assert (kept / "weights.txt").read_text() == "old" and (kept / STAGE_FILE).exists()
    assert any("kept as train.previous" in line for line in lines)
    # One generation only: a third configuration replaces the kept copy.
    StageRunner(tmp_path, lines.append).run("train", {"lr": 3}, _stage([], "newest"))
    assert (kept / "weights.txt").read_text() == "new"


def test_interrupted_stage_resumes_in_its_folder(tmp_path):
    def crash(folder):
        (folder / "checkpoint.txt").write_text("epoch 3")
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        StageRunner(tmp_path, lambda line: None).run("train", {"lr": 1}, crash)
    assert (tmp_path / "train" / STARTED_FILE).exists()
    assert not (tmp_path / "train" / STAGE_FILE).exists()

    seen = []

    def resume(folder):
        seen.append((folder / "checkpoint.txt").read_text())
        return {}

    res = StageRunner(tmp_path, lambda line: None).run("train", {"lr": 1}, resume)
    assert seen == ["epoch 3"] and not res.reused
    assert not (tmp_path / "train.previous").exists()
    # An interrupted stage with another key is not finished work: it is started afresh.
    with pytest.raises(KeyboardInterrupt):
        StageRunner(tmp_path, lambda line: None).run("other", {"a": 1}, crash)
    StageRunner(tmp_path, lambda line: None).run("other", {"a": 2}, _stage([]))
    assert not (tmp_path / "other" / "checkpoint.txt").exists()
    assert not (tmp_path / "other.previous").exists()
