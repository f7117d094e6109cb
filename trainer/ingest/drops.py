"""Finding drops: `<source>/<network>/<processing_date>/<window_days>d/`, one parquet file per raw table."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date
from pathlib import Path

from trainer.errors import PipelineError
from trainer.ingest.raw_tables import RawTable

DROP_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
DROP_WINDOW = re.compile(r"^([1-9]\d{0,3})d$")


@dataclass(frozen=True)
class Drop:
    network: str
    processing_date: date
    window_days: int
    directory: Path

    def file(self, table: RawTable) -> Path:
        return self.directory / table.file_name


def find_drops(source: Path, network: str) -> list[Drop]:
    """Every drop folder of the network under `source`, oldest first; a malformed folder name is an error."""
    root = source / network
    if not root.is_dir():
        raise PipelineError(f"no drops for network {network!r}: {root} is not a directory")
    drops = []
    for date_dir in sorted(p for p in root.iterdir() if p.is_dir()):
        if not DROP_DATE.match(date_dir.name):
            raise PipelineError(f"{date_dir}: drop folder name is not a date YYYY-MM-DD")
        try:
            processing_date = date.fromisoformat(date_dir.name)
        except ValueError:
            raise PipelineError(f"{date_dir}: drop folder name is not a calendar date") from None
        for window_dir in sorted(p for p in date_dir.iterdir() if p.is_dir()):
            match = DROP_WINDOW.match(window_dir.name)
            if not match:
                raise PipelineError(f"{window_dir}: window folder name must look like 7d")
            drops.append(Drop(network, processing_date, int(match.group(1)), window_dir))
    if not drops:
        raise PipelineError(f"no drops for network {network!r} under {root}")
    return drops
