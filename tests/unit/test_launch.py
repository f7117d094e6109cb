"""How the local ranks' run ends (trainer/train/launch.py): which failure it names."""

from __future__ import annotations

import subprocess
import sys
import time

import pytest

from trainer.errors import PipelineError
from trainer.train import launch


def test_of_ranks_failed_together_the_run_names_the_one_that_did_not_lose_a_peer(tmp_path) -> None:
    # Rank 0 ends the way LightGBM ends a rank whose peer is gone; rank 1, the cause, is killed. Both have ended
    # before the first poll, so both are found failed together.
    logs = [tmp_path / "rank-0.log", tmp_path / "rank-1.log"]
    logs[0].write_text("lightgbm.basic.LightGBMError: Socket recv error, Connection reset by peer (code: 104)\n")
    logs[1].write_text("")
    echo = subprocess.Popen([sys.executable, "-c", "raise SystemExit(1)"])
    cause = subprocess.Popen([sys.executable, "-c", "import os, signal; os.kill(os.getpid(), signal.SIGKILL)"])
    while echo.poll() is None or cause.poll() is None:
        time.sleep(0.01)
    with pytest.raises(PipelineError) as failure:
        launch._wait([echo, cause], logs)
    assert str(failure.value) == "rank 1 of 2 failed: ended by SIGKILL; nothing was published"


STALLING_READ = """
import time
from trainer.train.coordination import Watchdog, beating

def batches():
    for _ in range(3):
        time.sleep(0.6)  # each batch within the deadline: progress
        yield 1
    time.sleep(30)  # then the store sends nothing more
    yield 1

watchdog = Watchdog(1, 1.0)
with watchdog.waiting("reading its training rows", cause="its store sent no rows"):
    for _ in beating(batches(), watchdog):
        print("batch binned", flush=True)
"""


def test_a_rank_whose_store_stops_sending_rows_ends_itself_in_one_line() -> None:
    started = time.monotonic()
    ended = subprocess.run([sys.executable, "-c", STALLING_READ], capture_output=True, text=True, timeout=60)
    assert ended.returncode != 0 and time.monotonic() - started < 10
    assert ended.stdout.split("\n").count("batch binned") == 3, "each batch arriving within the deadline is progress"
    lines = [line for line in ended.stderr.splitlines() if "made no progress" in line]
    assert len(lines) == 1 and lines[0].endswith(
        "rank 1 made no progress in reading its training rows for 1 s: its store sent no rows; nothing was published"
    )
