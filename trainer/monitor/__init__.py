"""Monitoring where the data lives: each model's training distributions, drift per scoring batch computed in ClickHouse,
and realized performance once labels arrive (backtest)."""
