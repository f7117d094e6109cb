"""Scoring: a registered model scores one processing date of the scoring marts into its output table."""

from trainer.score.scoring import ScoringOutcome, score_date

__all__ = ["ScoringOutcome", "score_date"]
