{#- What fixes the rows a data test found wrong, for its `problem` text (macro report_test_problems): a raw table's rows
    come from the drops (fixed upstream, ingested again), a built table's from this project's SQL (rebuilt from
    scratch). `model` is the tested relation or, under a `where` config, a subquery of it: its text tells them apart. -#}
{% macro data_test_remedy(model) -%}
    {%- if '`raw_' in (model | string) or '"raw_' in (model | string) or '.raw_' in (model | string) -%}
        fix the drop upstream and ingest it again (python -m trainer.ingest)
    {%- else -%}
        rebuild the table from scratch (dbt build --full-refresh)
    {%- endif -%}
{%- endmacro %}
