"""A model's metadata as one typed, versioned record: what training writes (as JSON: the warehouse artifact
`metadata` and the exported `<model_id>.json`) and what every reader gets back.

Version rule: `SCHEMA_VERSION` grows when a field is added, removed or changes meaning; the JSON carries it as
`schema_version`. A record of the current version must hold every field and no other. Metadata written before the
record existed has no `schema_version` (version 1): it loads when it holds the fields every version-1 writer wrote,
and the fields added later get the defaults below (the readers already treat them as absent: no drift without
training distributions, a card without a recorded command). A later version loads without the fields added after
it (`ADDED_AFTER`), which get their defaults too. A newer version than this code reads fails: it would silently
drop fields.

The JSON layout is the dict version 1 wrote plus `schema_version`: the exported files stay readable by anything that
read them before. Metrics and hyperparameters stay open dicts: their sets grow with the model types by design.
"""

from __future__ import annotations

import dataclasses
import json
import types
import typing
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any

from trainer.errors import PipelineError

SCHEMA_VERSION = 3
LEGACY_VERSION = 1  # metadata without `schema_version`: written before this record
# The fields each version's writers did not write yet, by dotted path: they load with their defaults.
ADDED_AFTER = {2: frozenset({"data_stats.train_rows_purged_for_label_horizon"})}
MIGRATE = "retrain the model (the command in its model card) to record it in the current schema"


@dataclass(frozen=True)
class TrainingPeriod:
    """The window the model was trained on, where its test split starts, and how label maturity shortened it."""

    start: date
    end: date
    test_start: date
    test_fraction: float
    label_horizon_days: int | None = None  # added after version 1's first writers
    labels_mature_through: date | None = None


@dataclass(frozen=True)
class DataStats:
    """The rows the model saw; `fingerprint` identifies them (a retrain on the same rows reuses the model)."""

    rows: int
    train_rows: int
    test_rows: int
    train_rows_dropped_for_shared_entities: int
    positives: int
    train_positive_rate: float
    test_positive_rate: float
    distinct_dates: int
    fingerprint: str
    immature_label_rows_left_out: int = 0  # added after version 1's first writers
    # Training rows whose label window reached the first test date, left out; None: trained before the purge (version 3)
    train_rows_purged_for_label_horizon: int | None = None


@dataclass(frozen=True)
class ContractRecord:
    """The feature contract the model was trained on: its table, fingerprint and features (each the contract's own
    JSON: name, family, description, drift reason, ...)."""

    table: str
    fingerprint: str
    features: tuple[dict[str, Any], ...]

    def names(self) -> list[str]:
        return [feature["name"] for feature in self.features]

    def families(self) -> dict[str, str]:
        return {feature["name"]: feature["family"] for feature in self.features}


@dataclass(frozen=True)
class ModelMetadata:
    model_id: str
    model_type: str
    version: int
    timestamp: datetime  # when the version was claimed, UTC
    network: str
    training_period: TrainingPeriod
    data_stats: DataStats
    metrics: dict[str, Any]
    hyperparameters: dict[str, Any]
    feature_names: tuple[str, ...]
    num_trees: int
    feature_contract: ContractRecord
    dbt_models: tuple[str, ...]
    tuning: dict[str, Any] | None
    config_key: str
    project_version: str
    report_path: str
    # Added after version 1's first writers: defaults for version-1 metadata that predates them.
    gain_by_family: dict[str, float] = field(default_factory=dict)
    training_distributions: dict[str, dict[str, Any]] = field(default_factory=dict)
    leakage_guard: dict[str, Any] = field(default_factory=dict)
    command: str | None = None
    environment: dict[str, str] = field(default_factory=dict)
    timings_s: dict[str, float] = field(default_factory=dict)
    peak_rss_mb: float | None = None
    peak_rss_mb_by_phase: dict[str, float] = field(default_factory=dict)
    model_card: str = ""  # set by publish once the card is rendered from the rest

    def review_capacity_per_day(self) -> int | None:
        """The review capacity per day the model was evaluated at; None for a model trained before triage metrics
        were recorded."""
        capacity = self.metrics.get("review_capacity_per_day")
        return int(capacity) if capacity else None

    def out_of_time_from(self) -> date:
        """The first date neither the model's training rows nor the outcomes that decided their labels reach: its test
        start when the training rows were purged of label windows reaching it, else (a model trained before the purge)
        the test start plus the label horizon. The promotion gate and backtests judge a model from here on only."""
        period = self.training_period
        if self.data_stats.train_rows_purged_for_label_horizon is not None or not period.label_horizon_days:
            return period.test_start
        return period.test_start + timedelta(days=period.label_horizon_days)

    def to_dict(self) -> dict[str, Any]:
        return {"schema_version": SCHEMA_VERSION, **_plain(self)}

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2, sort_keys=True)

    @classmethod
    def from_json(cls, text: str | bytes, model: str) -> ModelMetadata:
        """The record from its JSON; `model` names the model in the one-line errors."""
        try:
            data = json.loads(text)
        except ValueError as error:
            raise PipelineError(f"model {model} is corrupted: its metadata is not JSON ({str(error).splitlines()[0][:120]})") from None
        return cls.from_dict(data, model)

    @classmethod
    def from_dict(cls, data: Any, model: str) -> ModelMetadata:
        if not isinstance(data, dict):
            raise PipelineError(f"model {model} is corrupted: its metadata is not a JSON object")
        body = dict(data)
        version = body.pop("schema_version", LEGACY_VERSION)
        if version == SCHEMA_VERSION:
            return _build(cls, body, model, "", partial=False)
        if version == LEGACY_VERSION:
            return _build(cls, body, model, "", partial=True)
        if version in ADDED_AFTER:
            return _build(cls, body, model, "", partial=ADDED_AFTER[version])
        raise PipelineError(
            f"model {model}: metadata schema_version {version!r} is not one this trainer reads ({LEGACY_VERSION} to {SCHEMA_VERSION}); "
            "upgrade the trainer to load it"
        )


def _build(cls: type, data: dict[str, Any], model: str, prefix: str, partial: bool | frozenset[str]) -> Any:
    """An instance of the dataclass `cls` from `data`: no unknown field, every required one (with `partial` True,
    the fields that have a default may be absent: version-1 metadata; with a set of dotted paths, those), each of its
    declared type."""
    hints = typing.get_type_hints(cls)
    fields = {f.name: f for f in dataclasses.fields(cls)}
    unknown = sorted(set(data) - set(fields))
    if unknown:
        raise PipelineError(f"model {model}: metadata has unknown field `{prefix}{unknown[0]}`; {MIGRATE}")
    values = {}
    for name, spec in fields.items():
        has_default = spec.default is not dataclasses.MISSING or spec.default_factory is not dataclasses.MISSING
        if name not in data:
            if has_default and (partial is True or (not isinstance(partial, bool) and f"{prefix}{name}" in partial)):
                continue
            how = f"version-1 metadata needs it: {MIGRATE}" if partial is True else "it is required"
            raise PipelineError(f"model {model}: metadata lacks field `{prefix}{name}` ({how})")
        values[name] = _coerce(data[name], hints[name], model, f"{prefix}{name}", partial)
    return cls(**values)


def _coerce(value: Any, kind: Any, model: str, path: str, partial: bool | frozenset[str]) -> Any:
    """`value` read from JSON as the declared type `kind`; a mismatch fails naming the field."""
    origin, arguments = typing.get_origin(kind), typing.get_args(kind)
    if origin in (typing.Union, types.UnionType):
        if value is None and type(None) in arguments:
            return None
        (inner,) = [argument for argument in arguments if argument is not type(None)]
        return _coerce(value, inner, model, path, partial)
    if dataclasses.is_dataclass(kind):
        if not isinstance(value, dict):
            raise _wrong_type(model, path, "an object", value)
        return _build(kind, value, model, f"{path}.", partial)
    if kind is Any:
        return value
    if origin is tuple:
        if not isinstance(value, list):
            raise _wrong_type(model, path, "a list", value)
        return tuple(_coerce(item, arguments[0], model, f"{path}[{i}]", partial) for i, item in enumerate(value))
    if origin is dict or kind is dict:
        if not isinstance(value, dict):
            raise _wrong_type(model, path, "an object", value)
        return value  # open dicts (metrics, environment, ...) are kept as written
    if kind is date or kind is datetime:
        try:
            return kind.fromisoformat(value)
        except (TypeError, ValueError):
            raise _wrong_type(model, path, f"an ISO {kind.__name__}", value) from None
    if kind is float and isinstance(value, int | float) and not isinstance(value, bool):
        return float(value)
    if kind in (int, str, bool) and isinstance(value, kind) and (kind is bool or not isinstance(value, bool)):
        return value
    raise _wrong_type(model, path, kind.__name__, value)


def _wrong_type(model: str, path: str, expected: str, value: Any) -> PipelineError:
    return PipelineError(f"model {model}: metadata field `{path}` should be {expected}, not {type(value).__name__}; {MIGRATE}")


def _plain(value: Any) -> Any:
    """The JSON value of a record or one of its fields, in version 1's layout."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: _plain(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, date | datetime):
        return value.isoformat()
    if isinstance(value, tuple | list):
        return [_plain(item) for item in value]
    return value
