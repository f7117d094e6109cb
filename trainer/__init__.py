"""Train versioned LightGBM models for AML alert triage on feature tables built by dbt in ClickHouse."""

__version__ = "0.1.0"
