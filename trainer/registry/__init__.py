"""The registry, in ClickHouse: the `trained_models` rows (table), every model's artifacts (warehouse), publishing both
together (publish), local files as an export (artifacts), aliases and the promotion gate."""

from trainer.registry.table import REGISTRY_TABLE, claim_version, ensure_registry, insert, list_models, resolve_model, row_from_metadata

__all__ = ["REGISTRY_TABLE", "claim_version", "ensure_registry", "insert", "list_models", "resolve_model", "row_from_metadata"]
