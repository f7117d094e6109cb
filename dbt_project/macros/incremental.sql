{#-
  Incremental models use dbt-clickhouse's insert_overwrite strategy on date partitions: a build writes the dates its
  `where` lists, and each replaces its partition whole. dbt cannot know which dates a drop changed; these macros say.
-#}

{#- The dates a model's rows are partitioned on whose rows read a drop (in stg_ingested_drops, which ingest writes)
    ingested after they were built (`built_at`), or built under another var label_horizon_days, per its config
    `rebuild`: `column` (default processing_date); `lookback_days`, the days of drops before a date its rows read
    (default 0; none: every earlier drop); `label_horizon`, whether they also read the horizon's drops after it.
    `present`: only dates the table holds; else those in `first`..`last` (default the window) it holds or lacks. -#}
{% macro stale_dates(first=none, last=none, present=false) -%}
    {%- set spec = config.get('rebuild', {}) -%}
    {%- set column = spec.get('column', 'processing_date') -%}
    {%- set lookback_days = spec.get('lookback_days', 0) -%}
    {%- set preceding = 'unbounded' if lookback_days is none else lookback_days | int -%}
    {%- set ahead_days = label_horizon_days() if spec.get('label_horizon') else 0 -%}
    {#- A table from before its label_horizon_days column: on_schema_change then asks for a full refresh. -#}
    {%- set horizon = spec.get('label_horizon') and 'label_horizon_days' in adapter.get_columns_in_relation(this) | map(attribute='name') | list -%}
    {%- set dates_sql -%}
        select toString(drops.day)
        from (
            select processing_date as day, max(max(ingested_at)) over (
                order by toInt64(toUInt32(processing_date)) range between {{ preceding }} preceding and {{ ahead_days | int }} following
            ) as changed_at
            from {{ ref('stg_ingested_drops') }}
            group by processing_date
        ) as drops
        {{ 'inner' if present else 'left' }} join (
            select {{ column }} as day, max(built_at) as built_at{% if horizon %}, min(label_horizon_days) as horizon{% endif %}
            from {{ this }} group by {{ column }}
        ) as built on drops.day = built.day
        where {% if not present %}drops.day between {{ first or window_start() }} and {{ last or window_end() }} and {% endif -%}
          (drops.changed_at > built.built_at{% if horizon %} or built.horizon != {{ label_horizon_days() }}{% endif %})
        order by 1
    {%- endset -%}
    {{- return(run_query(dates_sql).rows | map('first') | list) -}}
{%- endmacro %}

{#- The dates this build rewrites (stale_dates), as a predicate on the model's `rebuild` column; a full build, or one
    after a first build that did not finish: all. -#}
{% macro rebuild_dates(first=none, last=none) -%}
    {%- if not (execute and is_incremental() and finished_build()) -%}
        {{- return('1 = 1') -}}
    {%- endif -%}
    {%- set dates = stale_dates(first, last) -%}
    {%- set column = config.get('rebuild', {}).get('column', 'processing_date') -%}
    {{- return(column ~ ' in (' ~ (dates | map('tojson') | map('replace', '"', "'") | join(', ') or 'null') ~ ')') -}}
{%- endmacro %}

{#- Post-hook: drops the partitions a full build would not hold, which insert_overwrite leaves since it replaces only
    the partitions a build writes: dates outside `first`..`last` (a window moved, labels no longer mature), and dates
    still stale after the build (to be rebuilt, they came out with no rows). -#}
{% macro drop_stale_dates(first=none, last=none) -%}
    {%- if execute and is_incremental() -%}
        {%- set column = config.get('rebuild', {}).get('column', 'processing_date') -%}
        {%- set outside_sql -%}
            select distinct toString({{ column }}) from {{ this }}
            where {{ column }} not between {{ first or window_start() }} and {{ last or window_end() }}
        {%- endset -%}
        {%- set days = (run_query(outside_sql).rows | map('first') | list + stale_dates(present=true)) | unique | list -%}
        {%- if days -%}
            alter table {{ this }} {% for day in days %}drop partition '{{ day }}'{{ ', ' if not loop.last }}{% endfor %}
        {%- endif -%}
    {%- endif -%}
{%- endmacro %}

{#- Whether a build of this model's table finished: dbt-clickhouse's first build creates the table, then inserts into it,
    so one that failed or was killed leaves rows dated as built; the table comment (the model's description, which
    persist_docs writes once a build finished) is empty until one did. -#}
{% macro finished_build() -%}
    {%- if not model.description -%}
        {{ exceptions.raise_compiler_error(model.name ~ " needs a description: its table comment marks a finished build") }}
    {%- endif -%}
    {%- set comment_sql = "select comment from system.tables where database = '" ~ this.schema ~ "' and name = '" ~ this.identifier ~ "'" -%}
    {{- return(run_query(comment_sql).rows[0][0] != '') -}}
{%- endmacro %}

{#- Pre-hook: empties a table whose first build did not finish (rebuild_dates then builds every date, as a full build). -#}
{% macro empty_unfinished_table() -%}
    {%- if execute and is_incremental() and not finished_build() -%}
        {%- do log(model.name ~ ": its first build did not finish; emptied, every date is built again", info=True) -%}
        truncate table {{ this }} {{ on_cluster_clause(this) }}
    {%- endif -%}
{%- endmacro %}
