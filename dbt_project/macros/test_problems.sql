{#- on-run-end: logs "Problem in test <name>: <problem>" for the first rows of each failed or warned test with a
    `problem` column (the generic tests in tests/generic), which dbt's "Got 1 result" leaves out: its query is run
    again. trainer.daily reads these lines for its one-line failure (trainer/daily.py, build_window). -#}
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
