{#-
  The model has exactly as many rows as `compare_model`: joins neither lost nor duplicated rows.
  Fails with one row giving both counts.
-#}
{% test row_count_matches(model, compare_model) %}
select actual_rows, expected_rows
from (
    select
        (select count() from {{ model }}) as actual_rows,
        (select count() from {{ compare_model }}) as expected_rows
)
where actual_rows != expected_rows
{% endtest %}
