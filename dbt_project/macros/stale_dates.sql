{#-
  Incremental feature families rebuild only the processing dates whose inputs changed since they were built.

  A date's inputs are the completely ingested drops (stg_ingested_drops) from `lookback_days` before it up to
  the date itself; `none` means every earlier drop (for history that reaches back without bound). A date is
  stale when the family has no row for it yet, or when one of those drops was (re-)ingested after the family's
  rows for the date were built (`built_at`). Outside an incremental run every date of the window is built.
-#}
{% macro stale_dates(lookback_days=none) -%}
{%- if is_incremental() -%}
    {%- set frame = 'rows between unbounded preceding and current row' if lookback_days is none
        else 'range between ' ~ (lookback_days | int) ~ ' preceding and current row' -%}
    processing_date in (
        select inputs.processing_date
        from (
            select
                processing_date,
                max(ingested_at) over (order by toInt64(toUInt32(processing_date)) {{ frame }}) as inputs_changed_at
            from {{ ref('stg_ingested_drops') }}
            where processing_date <= {{ window_end() }}
        ) as inputs
        left join {{ built_dates() }} as built
            on inputs.processing_date = built.processing_date
        -- No window filter here: the model filters on its window already, and one here would reach the built dates
        -- through the join and make the engine check every part of the table (built_dates).
        where inputs.inputs_changed_at > built.built_at
    )
{%- else -%}
    1 = 1
{%- endif -%}
{%- endmacro %}

{#- When the model's rows of each processing date (`date_column`: labelled_on for the label history; of `dates` only,
    when given) were built (and, `with_horizon`, under which var label_horizon_days); a date it has no rows for is
    missing, which a left join reads as the epoch (older than any input). The table's projection built_dates answers it from one row per part. Without `dates`, the query reads
    every part's projection and nothing else: a range filter on processing_date would instead have the engine check
    every part's primary index, which a new process reads from disk (2 s for the 580 parts of a 10M-alert family).
    A table built before these columns existed has no dates: every date is stale, and on_schema_change then asks for
    --full-refresh. -#}
{% macro built_dates(with_horizon=false, dates=none, date_column='processing_date') -%}
    {%- if missing_columns(this, ['built_at', 'label_horizon_days'] if with_horizon else ['built_at']) %}
    (
        select toDate(0) as {{ date_column }}, toDateTime64(0, 3, 'UTC') as built_at
            {%- if with_horizon %}, toUInt16(0) as label_horizon_days{% endif %}
        where 0 = 1
    )
    {%- else %}
    (
        select {{ date_column }}, max(built_at) as built_at
            {%- if with_horizon %}, min(label_horizon_days) as label_horizon_days{% endif %}
        from {{ this }}
        {%- if dates is not none %}
        where {{ _dates_predicate(dates, date_column) }}
        {%- endif %}
        group by {{ date_column }}
    )
    {%- endif %}
{%- endmacro %}


{#- The names of `columns` the relation does not have (none while parsing: no table is read then). -#}
{% macro missing_columns(relation, columns) -%}
    {%- if not execute -%}
        {{- return([]) -}}
    {%- endif -%}
    {%- set present = adapter.get_columns_in_relation(relation) | map(attribute='name') | list -%}
    {{- return(columns | reject('in', present) | list) -}}
{%- endmacro %}

{#- Pre-hook of the incremental models: gives a table built before its configured projections (built_dates) existed
    those projections, once, so its next incremental build can swap in partitions of the new shape (ClickHouse refuses
    to replace a partition between tables with different projections) and its stale-date checks read the projection.
    Materializing reads the table's processing_date and built_at (seconds at 10M alerts). A table that lacks a column a
    projection reads is left as it is: the build then fails asking for --full-refresh (on_schema_change). -#}
{% macro add_missing_projections() -%}
    {%- set projections = config.get('projections', default=[]) -%}
    {%- if execute and projections and is_incremental() and not should_full_refresh() -%}
        {%- set present_sql -%}
            select name from system.projections
            where database = '{{ this.schema }}' and table = '{{ this.identifier }}'
        {%- endset -%}
        {%- set present = run_query(present_sql).rows | map('first') | list -%}
        {%- for projection in projections if projection.get('name') not in present
                and not missing_columns(this, _projection_columns(projection)) -%}
            {%- do log('adding projection ' ~ projection.get('name') ~ ' to ' ~ this, info=true) -%}
            {%- do run_query('alter table ' ~ this ~ ' add ' ~ clickhouse_projection_ddl(projection)) -%}
            {%- do run_query('alter table ' ~ this ~ ' materialize projection ' ~ projection.get('name') ~ ' settings mutations_sync = 2') -%}
        {%- endfor -%}
    {%- endif -%}
{%- endmacro %}

{#- The column names a projection's query reads: its identifiers that are neither keywords nor called as functions. -#}
{% macro _projection_columns(projection) -%}
    {%- set identifiers = modules.re.findall('\\b([A-Za-z_][A-Za-z0-9_]*)\\b(?!\\s*\\()', projection.get('query') or '') -%}
    {{- return(identifiers | map('lower') | reject('in', ['select', 'group', 'by', 'order']) | unique | list) -}}
{%- endmacro %}
