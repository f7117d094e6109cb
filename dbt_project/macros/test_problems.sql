{#-
  on-run-end: the reason of each failed (or warned) data test, in the build's output. dbt's own message for a test
  says only how many rows it returned ("Got 1 result, configured to fail if != 0"); the project's generic tests
  (tests/generic) return rows with a `problem` column that says what is wrong and what to change. This runs each
  failed test's compiled query again (a failed test is rare, and its query is the gate's own) and logs its first
  problems, one line each:

      Problem in test <test name>: <problem>

  trainer.daily reads these lines from dbt's events (trainer/daily.py, build_window) for its one-line failure.
  Tests without a `problem` column (dbt's not_null, unique, ...) are left to dbt's message.
-#}
{% macro report_test_problems(results) -%}
    {%- if execute -%}
        {%- for result in results
            if result.node.resource_type == 'test' and result.status | string in ['fail', 'warn'] and result.node.compiled_code -%}
            {%- set rows = run_query('select * from (' ~ result.node.compiled_code ~ ') as failed_test limit 3') -%}
            {%- if 'problem' in rows.column_names -%}
                {%- for row in rows -%}
                    {%- do log('Problem in test ' ~ result.node.name ~ ': ' ~ row['problem'], info=True) -%}
                {%- endfor -%}
            {%- endif -%}
        {%- endfor -%}
    {%- endif -%}
    select 1
{%- endmacro %}
