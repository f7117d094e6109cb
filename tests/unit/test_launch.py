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
