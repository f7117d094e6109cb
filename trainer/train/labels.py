"""The label rule as the trainer sees it: labels are outcomes known within a horizon after the alert, and only
mature labels (whose horizon the newest ingested drop has reached) are training or test rows. dbt applies the rule
(`int_alert_labels`, `int_cluster_labels`, var label_horizon_days); the trainer reports what it left out."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Any

from clickhouse_connect.driver.client import Client

from trainer.errors import PipelineError
from trainer.model_types import ModelSpec
from trainer.store.connection import qualified_name, table_exists


@dataclass(frozen=True)
class LabelMaturity:
    horizon_days: int
    mature_through: date | None  # the labels of rows dated up to here are final
    immature_rows: int  # labelled rows of the window left out because their horizon reaches past the newest drop

    def to_json(self) -> dict[str, Any]:
        return {
            "label_horizon_days": self.horizon_days,
            "labels_mature_through": str(self.mature_through) if self.mature_through else None,
            "immature_label_rows_left_out": self.immature_rows,
        }


def label_maturity(client: Client, network: str, spec: ModelSpec, start: date) -> LabelMaturity:
    """How the label horizon shaped the window: the horizon, the date through which labels are mature, and how many
    labelled rows dated from `start` on were left out as immature."""
    labels = spec.label_model
    if not table_exists(client, network, labels):
        raise PipelineError(f"table {network}.{labels} does not exist: run dbt build for network {network}")
    table = qualified_name(network, labels)
    rows, horizon, mature_through, immature = client.query(
        "SELECT count(), toInt64(any(label_horizon_days)), maxIf(processing_date, label_is_mature = 1), countIf(label_is_mature = 0) "
        f"FROM {table} WHERE processing_date >= {{start:Date}}",
        parameters={"start": start},
    ).result_rows[0]
    return LabelMaturity(int(horizon), mature_through if rows > immature else None, int(immature))
