"""The sample-data generator is a pure function of its arguments, and refuses bad ones in one sentence."""

from __future__ import annotations

import hashlib
from datetime import date
from pathlib import Path

import pytest

from trainer.errors import PipelineError
from trainer.sample_data import DROP_FILES, generate_drops


def digest(root: Path) -> dict[str, str]:
    return {str(path.relative_to(root)): hashlib.sha256(path.read_bytes()).hexdigest() for path in sorted(root.rglob("*.parquet"))}


def test_same_arguments_same_bytes_other_seed_other_bytes(tmp_path: Path) -> None:
    arguments = {"network": "tron", "start": date(2026, 12, 30), "end": date(2027, 1, 2), "alerts_per_day": 30, "label_delay_days": 2}
    first = generate_drops(**arguments, out_dir=tmp_path / "a", seed=5)
    generate_drops(**arguments, out_dir=tmp_path / "b", seed=5)
    generate_drops(**arguments, out_dir=tmp_path / "c", seed=6)
    a, b, c = digest(tmp_path / "a"), digest(tmp_path / "b"), digest(tmp_path / "c")
    assert a == b and len(a) == 4 * len(DROP_FILES), "four drops across a year end, five files each"
    assert a.keys() == c.keys() and a != c
    assert first["drops"] == 4 and first["rows"]["alerts"] == 4 * 30
    assert sorted({path.split("/")[1] for path in a}) == ["2026-12-30", "2026-12-31", "2027-01-01", "2027-01-02"]


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        ({"network": "Tron"}, "network 'Tron' must match"),
        ({"start": date(2025, 1, 2), "end": date(2025, 1, 1)}, "start date 2025-01-02 is after end date 2025-01-01"),
        ({"alerts_per_day": 0}, "alerts_per_day must be at least 1"),
        ({"window_days": 0}, "window_days must be between 1 and 65535"),
        ({"label_delay_days": -1}, "label_delay_days must be a non-negative integer"),
    ],
)
def test_bad_arguments_fail_in_one_sentence(tmp_path: Path, arguments: dict, message: str) -> None:
    defaults = {"network": "tron", "start": date(2025, 1, 1), "end": date(2025, 1, 1), "out_dir": tmp_path}
    with pytest.raises(PipelineError, match=message):
        generate_drops(**{**defaults, **arguments})
    assert not list(tmp_path.iterdir()), "nothing written"
