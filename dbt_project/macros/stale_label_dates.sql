{#-
  The label tables (int_alert_labels, int_cluster_labels) are incremental like the families, and hold mature dates
  only (macro labels_mature_through): a build rewrites the mature processing dates whose labels can have changed since
  they were built (`built_at`), one whole partition each. A date's label reads every drop up to processing_date + var
  label_horizon_days, so a mature date is stale when:
  - such a drop was (re-)ingested after the date's rows were built (a new drop matures the date its horizon ends on;
    a re-ingested old drop can change any later label), or its rows were labelled under another horizon;
  - the table has no rows for it.
  In a daily build that is one date, the one the new drop matures (more when drops skip days). A date the table holds
  that is not mature under the current horizon (a longer horizon was set) is listed too: the build writes no rows
  for it and its last post-hook drops it. Outside an incremental run every date is built.
-#}
{% macro stale_label_dates() -%}
{%- if is_incremental() -%}
    processing_date in ({{ _stale_label_date_list() }})
{%- else -%}
    1 = 1
{%- endif -%}
{%- endmacro %}

{#- `dates`: only these dates are considered (their partitions are all the query opens); none: every date (the caller
    keeps its window). -#}
{% macro _stale_label_date_list(dates=none) -%}
    select labels_changed.processing_date
    from (
        {{ labels_changed_at(ref('stg_ingested_drops'), dates) }}
    ) as labels_changed
    left join {{ built_dates(with_horizon=true, dates=dates) }} as built
        on labels_changed.processing_date = built.processing_date
    where {{ stale_mature_date('labels_changed.processing_date', 'labels_changed.changed_at') }}
{%- endmacro %}

{#- The stale-date predicate of a table that holds mature dates only (the label tables, the training marts), over the
    caller's `built` (macro built_dates with the horizon) joined on the date: a mature date whose inputs changed at
    `changed_at` after it was built, or that was built under another horizon (or not at all); or a date the table
    holds that is no longer mature (a longer horizon), for the last post-hook to drop. -#}
{% macro stale_mature_date(processing_date, changed_at) -%}
    {{ processing_date }} <= {{ labels_mature_through() }}
        and ({{ changed_at }} > built.built_at or built.label_horizon_days != {{ label_horizon_days() }})
       or {{ processing_date }} > {{ labels_mature_through() }}
        and built.built_at > toDateTime64(0, 3, 'UTC')
{%- endmacro %}

{#- For each date of `dates_relation` (of `dates` only, when given), when the newest drop its labels read (every drop up
    to the date plus the horizon) was ingested: `processing_date, changed_at` rows. The callers keep their window's dates
    (a range filter here would have the engine check every part's primary index; see built_dates). -#}
{% macro labels_changed_at(dates_relation, dates=none) -%}
    select window_dates.processing_date as processing_date, drops.ingested_through as changed_at
    from (
        select processing_date, 1 as joined
        from {{ dates_relation }}
        {%- if dates is not none %}
        where {{ _dates_predicate(dates) }}
        {%- endif %}
        group by processing_date
    ) as window_dates
    asof inner join (
        select
            processing_date,
            1 as joined,
            max(ingested_at) over (order by processing_date rows between unbounded preceding and current row) as ingested_through
        from {{ ref('stg_ingested_drops') }}
    ) as drops
        on window_dates.joined = drops.joined
        and window_dates.processing_date + {{ label_horizon_days() }} >= drops.processing_date
{%- endmacro %}

{#- Last post-hook of the label tables: see drop_stale_mart_partitions (only the dates the build planned are checked
    again). -#}
{% macro drop_stale_label_partitions() -%}
{%- if execute and is_incremental() -%}
    {{- _drop_stale_partitions(_stale_label_date_list(planned_dates())) -}}
{%- endif -%}
{%- endmacro %}

{#- The label history (int_address_label_history) is incremental by labelled_on, the date of the drop a label came in:
    a label date reads that one drop. A build rewrites the label dates up to the window's last label cutoff (its end
    plus var label_horizon_days) whose drop was (re-)ingested after they were built, or that the table lacks; in a
    daily build, the new drop's date. The dates are listed literally, so the query opens their partitions only.
    Outside an incremental run every label date is built. -#}
{% macro stale_labelled_dates() -%}
{%- if execute and is_incremental() -%}
    {%- set stale_sql -%}
        select toString(drops.processing_date)
        from (
            select processing_date, max(ingested_at) as ingested_at
            from {{ ref('stg_ingested_drops') }}
            where processing_date <= {{ window_end() }} + {{ label_horizon_days() }}
            group by processing_date
        ) as drops
        left join {{ built_dates(date_column='labelled_on') }} as built
            on drops.processing_date = built.labelled_on
        where drops.ingested_at > built.built_at
        order by 1
    {%- endset -%}
    {{- _dates_predicate(run_query(stale_sql).rows | map('first') | list, 'labelled_on') -}}
{%- else -%}
    1 = 1
{%- endif -%}
{%- endmacro %}

{#- Post-hook of the label history: drops the label dates past the window's last label cutoff (a window that ends
    earlier than the last build's), which a full build of the window would not hold. -#}
{% macro drop_labels_past_cutoff() -%}
{%- if execute and is_incremental() -%}
    {%- set past_sql -%}
        select distinct toString(labelled_on) from {{ this }}
        where labelled_on > {{ window_end() }} + {{ label_horizon_days() }}
        order by 1
    {%- endset -%}
    {{- _drop_partitions(run_query(past_sql).rows | map('first') | list) -}}
{%- endif -%}
{%- endmacro %}
