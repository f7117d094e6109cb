"""The feature contract: which columns of a mart are features, of which family, made by which dbt model, meaning
what; read from dbt's manifest and the built tables, and rendered as the feature catalogue."""
