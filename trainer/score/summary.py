"""What a scoring run prints: the rows written, the most drifted distributions and the top scores with their reasons."""

from __future__ import annotations

from trainer.model_types import model_spec
from trainer.monitor.distributions import PSI_DRIFT, PSI_WATCH
from trainer.score.scoring import ScoringOutcome


def print_outcome(outcome: ScoringOutcome, model_type: str) -> None:
    print(f"{outcome.rows} rows written to {outcome.table} by {outcome.model_version} (batch {outcome.batch_id})")
    if outcome.drift:
        shown = [row for row in outcome.drift if row["level"] != "ok"][:10] or outcome.drift[:3]
        print(f"drift against the training window's test part (PSI; watch from {PSI_WATCH}, drift from {PSI_DRIFT}):")
        for row in shown:
            print(f"  {row['feature']:<40} {row['family']:<12} {row['psi']:>7.3f}  {row['level']}")
    key = model_spec(model_type).key_column
    for position, row in enumerate(outcome.top, start=1):
        reasons = ", ".join(f"{r['feature']} ({r['family']}, {r['contribution']:+.2f})" for r in row["reasons"])
        print(f"{position:>2}. {row[key]}  score {row['score']:.3f}  because {reasons}")
