{#-
  The model has exactly as many rows as `compare_model` (optionally restricted by `compare_where`, as the model
  is by the test's `where` config; both may name the window's placeholders, macro expand_window_placeholders): joins
  neither lost nor duplicated rows. Where `dbt build` checks only the dates it rebuilt (macro get_where_subquery), the
  comparison is limited to the dates the checked rows hold. Fails with one row giving both counts.
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
            where {{ expand_window_placeholders(compare_where) if compare_where else '1 = 1' }}
            {%- if build_checks_rebuilt_rows() %}
              and processing_date in (select processing_date from {{ model }})
            {%- endif %}
        ) as expected_rows
)
where actual_rows != expected_rows
{% endtest %}
