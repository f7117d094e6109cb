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
        where inputs.processing_date between {{ window_start() }} and {{ window_end() }}
          and inputs.inputs_changed_at > built.built_at
    )
{%- else -%}
    1 = 1
{%- endif -%}
{%- endmacro %}

{#- When the model's rows of each processing date (of `dates` only, when given) were built (and, `with_horizon`, under
    which var label_horizon_days); a date it has no rows for is missing, which a left join reads as the epoch (older than
    any input). A table built before these columns existed has no dates: every date is stale, and on_schema_change then
    asks for --full-refresh. -#}
{% macro built_dates(with_horizon=false, dates=none) -%}
    {%- if missing_columns(this, ['built_at', 'label_horizon_days'] if with_horizon else ['built_at']) %}
    (
        select toDate(0) as processing_date, toDateTime64(0, 3, 'UTC') as built_at
            {%- if with_horizon %}, toUInt16(0) as label_horizon_days{% endif %}
        where 0 = 1
    )
    {%- else %}
    (
        select processing_date, max(built_at) as built_at
            {%- if with_horizon %}, min(label_horizon_days) as label_horizon_days{% endif %}
        from {{ this }}
        {%- if dates is not none %}
        where {{ _dates_predicate(dates) }}
        {%- endif %}
        group by processing_date
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
