{#-
  What fixes the rows a data test found wrong, for the `problem` text of its failure (macro report_test_problems):
  rows of a raw table come from the drops, so the drop is fixed upstream and ingested again; rows of a built table
  come from this project's SQL, so it is rebuilt from scratch. `model` is the tested relation, or a subquery of it
  when the test checks some rows only (macro get_where_subquery), so its text is what tells them apart.
-#}
{% macro data_test_remedy(model) -%}
    {%- if '`raw_' in (model | string) or '"raw_' in (model | string) or '.raw_' in (model | string) -%}
        fix the drop upstream and ingest it again (python -m trainer.ingest)
    {%- else -%}
        rebuild the table from scratch (dbt build --full-refresh)
    {%- endif -%}
{%- endmacro %}
