{#-
  Upstream address features that are NaN or infinite in the drops (upstream leaves e.g. a standard
  deviation of one transfer undefined). A warning, not an error: the address family turns them into -1 and
  counts them per alert in address_non_finite_values. One row per column with such values.
-#}
{{ config(severity='warn') }}

{%- set columns = upstream_numeric_columns() %}

select column_name, non_finite_values
from (
    select
        [{% for column in columns %}'{{ column }}'{{ ', ' if not loop.last }}{% endfor %}] as column_names,
        [{% for column in columns %}countIf(not isFinite(toFloat64({{ column }}))){{ ', ' if not loop.last }}{% endfor %}] as counts
    from {{ source('raw', 'raw_features') }}
    -- The drops from var checks_from on (every drop by default; trainer.daily: its new drops).
    where processing_date >= toDate('{{ _validated_date('checks_from') }}')
)
array join column_names as column_name, counts as non_finite_values
where non_finite_values > 0
