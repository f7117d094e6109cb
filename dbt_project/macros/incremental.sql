{#-
  Incremental models use dbt-clickhouse's insert_overwrite strategy on date partitions: a build writes the dates its
  `where` lists, and each replaces its partition whole. dbt cannot know which dates a drop changed; these macros say.
-#}

{#- The dates `column` this build rewrites, as a predicate of literal dates: those in `first`..`last` whose rows read
    a drop (in stg_ingested_drops, which ingest writes) ingested after the rows were built (`built_at`), or that the
    table lacks. A date's rows read the drops from `lookback_days` before it (none: every earlier drop) to
    `ahead_days` after it; `horizon`: rows built under another var label_horizon_days are rebuilt too. -#}
{% macro rebuild_dates(lookback_days=0, ahead_days=0, column='processing_date', first=none, last=none, horizon=false) -%}
    {%- if not (execute and is_incremental()) -%}
        {{- return('1 = 1') -}}
    {%- endif -%}
    {%- set preceding = 'unbounded' if lookback_days is none else lookback_days | int -%}
    {#- A table from before its label_horizon_days column: on_schema_change then asks for a full refresh. -#}
    {%- set horizon = horizon and 'label_horizon_days' in adapter.get_columns_in_relation(this) | map(attribute='name') | list -%}
    {%- set dates_sql -%}
        select toString(drops.day)
        from (
            select processing_date as day, max(max(ingested_at)) over (
                order by toInt64(toUInt32(processing_date)) range between {{ preceding }} preceding and {{ ahead_days | int }} following
            ) as changed_at
            from {{ ref('stg_ingested_drops') }}
            group by processing_date
        ) as drops
        left join (
            select {{ column }} as day, max(built_at) as built_at{% if horizon %}, min(label_horizon_days) as horizon{% endif %}
            from {{ this }} group by {{ column }}
        ) as built on drops.day = built.day
        where drops.day between {{ first or window_start() }} and {{ last or window_end() }}
          and (drops.changed_at > built.built_at{% if horizon %} or built.horizon != {{ label_horizon_days() }}{% endif %})
        order by 1
    {%- endset -%}
    {%- set dates = run_query(dates_sql).rows | map('first') | list -%}
    {{- return(column ~ ' in (' ~ (dates | map('tojson') | map('replace', '"', "'") | join(', ') or 'null') ~ ')') -}}
{%- endmacro %}

{#- Post-hook: drops the partitions of dates outside `first`..`last` (a window moved, labels no longer mature), which
    a full build would not hold; insert_overwrite only replaces the partitions a build writes. -#}
{% macro drop_dates_outside(first=none, last=none, column='processing_date') -%}
    {%- if execute and is_incremental() -%}
        {%- set outside_sql -%}
            select distinct toString({{ column }}) from {{ this }}
            where {{ column }} not between {{ first or window_start() }} and {{ last or window_end() }}
        {%- endset -%}
        {%- set days = run_query(outside_sql).rows | map('first') | list -%}
        {%- if days -%}
            alter table {{ this }} {% for day in days %}drop partition '{{ day }}'{{ ', ' if not loop.last }}{% endfor %}
        {%- endif -%}
    {%- endif -%}
{%- endmacro %}
