"""cudaseg.train: overrides, the progress callback, a callback's exception, resume."""
import json
import os
import signal
import threading
import time

import pytest

import cudaseg
from conftest import REPO, TINY

CONFIG = REPO / "nets" / "stdc1.json"


def test_the_run_reports_every_step_and_writes_the_run_folder(stdc_run):
    assert stdc_run["step"] == 3
    assert stdc_run["best_step"] == 3 and 0.0 <= stdc_run["best_miou"] <= 1.0
    assert stdc_run["weights"].endswith("best.json")


def test_progress_gets_step_loss_lr_and_validation(tmp_path):
    seen, lines = [], []
    result = cudaseg.train(CONFIG, [f"{k}={json.dumps(v)}" for k, v in TINY.items()], out=tmp_path,
                           progress=seen.append, log=lines.append)
    assert [p["step"] for p in seen] == [1, 2, 3]
    records = [json.loads(line) for line in (tmp_path / "metrics.jsonl").read_text().splitlines()]
    train_records = {r["step"]: r for r in records if r["type"] == "train"}
    for p in seen:
        assert p["iters"] == 3
        assert p["loss"] == train_records[p["step"]]["loss"]
        assert p["lr"] == train_records[p["step"]]["lr"]
        assert p["terms"] == train_records[p["step"]]["terms"]
        assert p["seconds"] >= 0
    assert "miou" not in seen[0] and seen[2]["miou"] == result["last_miou"]
    assert any(line.startswith("step 3/3") for line in lines)
    assert (tmp_path / "config.json").exists() and (tmp_path / "best.json").exists()


def test_an_exception_in_progress_stops_cleanly_and_is_reraised(tmp_path):
    overrides = dict(TINY, **{"train.iters": 5})

    class Enough(Exception):
        pass

    def progress(p):
        if p["step"] == 2:
            raise Enough("stop at 2")

    with pytest.raises(Enough, match="stop at 2"):
        cudaseg.train(CONFIG, overrides, out=tmp_path, progress=progress, log=lambda line: None)
    # The run ended after step 2 with its checkpoint, and resumes from it.
    steps = [json.loads(line)["step"] for line in (tmp_path / "metrics.jsonl").read_text().splitlines()]
    assert max(steps) == 2
    seen = []
    result = cudaseg.train(CONFIG, overrides, resume=tmp_path, progress=lambda p: seen.append(p["step"]),
                           log=lambda line: None)
    assert seen == [3, 4, 5] and result["step"] == 5 and result["out"] == str(tmp_path)


def test_ctrl_c_stops_the_run_after_the_step_with_a_checkpoint(tmp_path):
    overrides = dict(TINY, **{"train.iters": 200})

    def interrupt():
        while not (tmp_path / "metrics.jsonl").exists():
            time.sleep(0.01)
        os.kill(os.getpid(), signal.SIGINT)

    # The thread runs while training holds no GIL. The log is a C function, so
    # no Python code runs to notice the signal: train's own check after each step must.
    threading.Thread(target=interrupt, daemon=True).start()
    with pytest.raises(KeyboardInterrupt):
        cudaseg.train(CONFIG, overrides, out=tmp_path, log=[].append)
    steps = [json.loads(line)["step"] for line in (tmp_path / "metrics.jsonl").read_text().splitlines()]
    assert max(steps) < 200
    assert json.loads((tmp_path / "last.json").read_text())["train_state"]["step"] == max(steps)


def test_a_dict_config_needs_a_run_folder_and_logs_to_stderr(tmp_path, capsys):
    config = json.loads(CONFIG.read_text())
    with pytest.raises(ValueError, match="out="):
        cudaseg.train(config, TINY)
    result = cudaseg.train(config, TINY, out=tmp_path / "run")
    assert result["step"] == 3
    assert "step 3/3" in capsys.readouterr().err


def test_overrides_must_be_a_dict_or_a_list():
    with pytest.raises(TypeError, match="overrides"):
        cudaseg.train(CONFIG, "train.iters=3")
