{#-
  The drop-visibility filter of every staging model over a raw table, as a `where` predicate on the raw table's
  processing_date and window_days.

  Only completely ingested drops are visible: ingestion writes a drop's state row with complete = 0 before it
  swaps the drop's partitions into the five raw tables and complete = 1 only after all five are in, and
  stg_ingested_drops keeps the drops whose newest state is complete. So dbt never reads a half-loaded drop (one
  raw table already swapped, another not yet, or an ingestion that died half-way). And one drop window is read:
  upstream can send a processing date for several look-back windows (one `<window_days>d` folder each); only
  var window_days is kept, so rows of two windows are never mixed or counted twice.
-#}
{% macro visible_drops() -%}
    window_days = {{ window_days() }}
      and (processing_date, window_days) in (select processing_date, window_days from {{ ref('stg_ingested_drops') }})
{%- endmacro %}
