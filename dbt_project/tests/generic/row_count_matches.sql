{#-
  The model has exactly as many rows as `compare_model` (both restricted by `compare_where`, which should repeat the
  test's `where` config): joins neither lost nor duplicated rows. Fails with one row giving both counts.
-#}
{% test row_count_matches(model, compare_model, compare_where=none) %}
select
    actual_rows,
    expected_rows,
    toString(actual_rows) || ' rows where {{ compare_model | replace("'", "") }} has ' || toString(expected_rows)
        || ': a join lost or duplicated rows; {{ data_test_remedy(model) }}' as problem
from (
    select
        (select count() from {{ model }}) as actual_rows,
        (
            select count() from {{ compare_model }}
            where {{ compare_where or '1 = 1' }}
        ) as expected_rows
)
where actual_rows != expected_rows
{% endtest %}
