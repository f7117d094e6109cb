"""The registry: model files on disk (artifacts), their rows in `trained_models` (table), and publishing both
together (publish)."""

from trainer.registry.table import REGISTRY_TABLE, ensure_registry, insert, list_models, next_version, resolve_model, row_from_metadata

__all__ = ["REGISTRY_TABLE", "ensure_registry", "insert", "list_models", "next_version", "resolve_model", "row_from_metadata"]
