"""Security: credentials never reach logs or files (the SQL scan is in tests/unit/test_sql_safety.py)."""

from __future__ import annotations

from pathlib import Path

from loguru import logger

from trainer.store.settings import load_store_settings
from trainer.train.pipeline import TrainRequest, train_model


def test_password_never_reaches_logs_or_metadata(ethereum, client, tmp_path: Path, monkeypatch) -> None:
    secret = "s3cr3t-Pa55word-for-tests"
    monkeypatch.setenv("CLICKHOUSE_PASSWORD", secret)
    server = load_store_settings(target="server")
    assert server.password == secret
    assert secret not in repr(server) and secret not in server.describe()
    captured: list[str] = []
    sink = logger.add(lambda message: captured.append(str(message)), level="DEBUG", format="{message} {extra}")
    try:
        outcome = train_model(TrainRequest("cluster_scorer", network="ethereum", output_dir=tmp_path, force=True), client=client)
    finally:
        logger.remove(sink)
    assert captured and not any(secret in line for line in captured)
    for path in tmp_path.iterdir():
        if path.suffix in {".json", ".txt"}:
            assert secret not in path.read_text(), path.name
    assert secret not in outcome.metadata.to_json()
