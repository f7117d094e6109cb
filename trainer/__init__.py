"""Train versioned LightGBM models for AML alert triage on feature tables built by dbt in ClickHouse.

The packages follow the data: `ingest` (upstream drops into raw tables) -> dbt (dbt_project/: features and the
training and scoring marts) -> `features` (the feature contract read from dbt) -> `train` -> `registry` (model
files and the trained_models table) -> `score`. `store` opens ClickHouse (embedded chDB or a server) for all of
them; `model_types` describes each model type once; `sample_data` writes drops for demos and tests.
"""

__version__ = "0.1.0"
