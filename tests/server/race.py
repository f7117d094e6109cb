"""Run a trainer command-line module in this process, held at a barrier before one of its steps, so that the
processes a test starts together reach that step together: a real race, not a hoped-for one.

    python -m tests.server.race BARRIER_DIR PARTIES MODULE:FUNCTION COMMAND_MODULE [ARGS...]

Each process announces itself in BARRIER_DIR just before its first call of MODULE.FUNCTION and waits until PARTIES
processes have; nothing else of the command changes. Test infrastructure only."""

from __future__ import annotations

import importlib
import os
import runpy
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

BARRIER_TIMEOUT_SECONDS = 120.0


def wait_for(directory: Path, parties: int) -> None:
    directory.mkdir(parents=True, exist_ok=True)
    (directory / str(os.getpid())).touch()
    deadline = time.monotonic() + BARRIER_TIMEOUT_SECONDS
    while sum(1 for _ in directory.iterdir()) < parties:
        if time.monotonic() > deadline:
            raise TimeoutError(f"barrier {directory}: fewer than {parties} processes arrived within {BARRIER_TIMEOUT_SECONDS} s")
        time.sleep(0.005)


def held(original: Callable[..., Any], directory: Path, parties: int) -> Callable[..., Any]:
    def call(*args: Any, **kwargs: Any) -> Any:
        wait_for(directory, parties)  # returns at once on later calls: this process is already counted
        return original(*args, **kwargs)

    return call


def main(argv: list[str]) -> None:
    directory, parties, target, command, *arguments = argv
    module_name, function_name = target.split(":")
    module = importlib.import_module(module_name)
    setattr(module, function_name, held(getattr(module, function_name), Path(directory), int(parties)))
    sys.argv = [command, *arguments]
    runpy.run_module(command, run_name="__main__", alter_sys=True)


if __name__ == "__main__":
    main(sys.argv[1:])
