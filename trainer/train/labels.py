"""The label rule as the trainer sees it: labels are outcomes known within a horizon after the alert, and only
mature labels (whose horizon the newest ingested drop has reached) are training or test rows. dbt applies the rule
(`int_alert_labels`, `int_cluster_labels`, var label_horizon_days); the trainer reports what it left out."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Any

from clickhouse_connect.driver.client import Client

from trainer.model_types import ModelSpec
from trainer.store.connection import qualified_name, require_built_table


@dataclass(frozen=True)
class LabelMaturity:
    horizon_days: int
    mature_through: date | None  # the labels of rows dated up to here are final
    immature_rows: int  # rows of the window left out because their horizon reaches past the newest drop (not labelled yet)

    def to_json(self) -> dict[str, Any]:
        return {
            "label_horizon_days": self.horizon_days,
            "labels_mature_through": str(self.mature_through) if self.mature_through else None,
            "immature_label_rows_left_out": self.immature_rows,
        }


def label_maturity(client: Client, network: str, spec: ModelSpec, start: date) -> LabelMaturity:
    """How the label horizon shaped the window: the horizon, the last date whose labels are mature (the label table
    holds those dates only), and how many rows of the scoring table dated from `start` on come after it, left out as
    immature."""
    for name in (spec.label_model, spec.scoring_table):
        require_built_table(client, network, name)
    rows, horizon, mature_through = client.query(
        f"SELECT count(), toInt64(any(label_horizon_days)), max(processing_date) FROM {qualified_name(network, spec.label_model)} "
        "WHERE processing_date >= {start:Date}",
        parameters={"start": start},
    ).result_rows[0]
    labelled_through = mature_through if rows else None
    immature = client.command(
        f"SELECT count() FROM {qualified_name(network, spec.scoring_table)} WHERE processing_date >= {{start:Date}} "
        "AND processing_date > {through:Date}",
        parameters={"start": start, "through": labelled_through or date(1970, 1, 1)},
    )
    return LabelMaturity(int(horizon), labelled_through, int(immature))
