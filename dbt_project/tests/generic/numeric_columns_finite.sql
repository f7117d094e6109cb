{#-
  Every numeric column of the model (read from the built table, so columns that follow the raw schema or a
  vocabulary var are covered too) holds a finite number on every row: no NULL, NaN or infinite value reaches
  the trainer. Fails with one row per bad row, naming the first bad column.
-#}
{% test numeric_columns_finite(model) %}
{%- set columns = [] -%}
{%- if execute -%}
    {#- From the query, not the relation: `model` is a subquery when the build checks only rebuilt dates. -#}
    {%- for column in adapter.get_column_schema_from_query('select * from ' ~ model) if _is_numeric_type(column.data_type) -%}
        {%- do columns.append(column.name) -%}
    {%- endfor -%}
    {%- if columns | length == 0 -%}
        {{ exceptions.raise_compiler_error("model " ~ model ~ " has no numeric columns to check") }}
    {%- endif -%}
{%- endif %}
{#- The rows are filtered by one vectorised AND over every column first; only a bad row is then searched for its
    first bad column (a multiIf over every column of every row took 0.35 s instead of 0.27 s on a 10M-alert day). #}
select
    multiIf(
        {% for column in columns -%}
        not isFinite(ifNull(toFloat64({{ column }}), nan)), '{{ column }}',
        {% endfor -%}
        ''
    ) as first_non_finite_column,
    'column ' || first_non_finite_column || ' holds NULL, NaN or an infinite value: {{ data_test_remedy(model) }}' as problem
from {{ model }}
where not (
    {% for column in columns -%}
    isFinite(ifNull(toFloat64({{ column }}), nan)){{ ' and' if not loop.last }}
    {% endfor -%}
)
{% endtest %}
