{#- The drop-visibility filter of every staging model over a raw table, a `where` predicate on its processing_date and
    window_days. Only completely ingested drops are visible (stg_ingested_drops keeps the drops whose newest state row
    is complete = 1, which ingest writes after all five raw tables are swapped in), so dbt never reads a half-loaded
    drop. And one drop window: of the `<window_days>d` folders upstream sends for a date, only var window_days is read,
    so rows of two windows are never mixed or counted twice. -#}
{% macro visible_drops() -%}
    window_days = {{ window_days() }}
      and (processing_date, window_days) in (select processing_date, window_days from {{ ref('stg_ingested_drops') }})
{%- endmacro %}
