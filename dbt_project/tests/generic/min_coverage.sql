{#-
  The share of rows whose `column_name` is 1 is at least `threshold`, e.g. the share of alerts that have
  upstream address features. Fails with one row giving the measured rate and `remedy` (the var or command that
  changes it), and prints the rate.
-#}
{% test min_coverage(model, column_name, threshold, remedy) %}
{%- set threshold = threshold | float -%}
{%- if execute -%}
    {%- set measured = run_query("select countIf(" ~ column_name ~ " = 1) / greatest(count(), 1), count() from " ~ model) -%}
    {%- set rate = measured.rows[0][0] -%}
    {%- if measured.rows[0][1] > 0 and rate < threshold -%}
        {{ log("coverage of " ~ column_name ~ " in " ~ model.identifier ~ " is " ~ '%.4f' % rate ~ ", below the required " ~ threshold, info=True) }}
    {%- endif -%}
{%- endif %}
select
    countIf({{ column_name }} = 1) / count() as coverage_rate,
    toFloat64({{ threshold }}) as required_rate,
    count() as rows_checked,
    'only ' || toString(round(coverage_rate, 4)) || ' of the ' || toString(rows_checked) || ' rows of {{ model.identifier }} have '
        || '{{ column_name }} = 1, below the required ' || toString(required_rate) || ': {{ remedy | replace("'", "''") }}' as problem
from {{ model }}
having count() > 0 and coverage_rate < required_rate
{% endtest %}
