{#- A data test's query, then the settings of its config `meta.query_settings` (dbt_project.yml) for the whole of it. -#}
{% macro clickhouse__get_test_sql(main_sql, fail_calc, warn_if, error_if, limit) -%}
    {{ dbt.clickhouse__get_test_sql(main_sql, fail_calc, warn_if, error_if, limit) }}
    {%- for name, value in config.get('meta', {}).get('query_settings', {}).items() %}
    {{ 'settings' if loop.first else ',' }} {{ name }} = {{ value }}
    {%- endfor %}
{%- endmacro %}
