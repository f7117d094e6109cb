{#-
  Incremental marts rebuild only the processing dates whose inputs changed since the mart's rows for them were
  built (`built_at`), one whole partition each:
  - `inputs`: the models the mart reads (feature families or a scoring mart, each with `built_at`); a date is stale
    when one of them rebuilt it after the mart did;
  - `with_labels`: the mart also reads labels, which exist for mature dates only (macro labels_mature_through), and
    a date's labels read every drop up to processing_date + var label_horizon_days (a new drop matures the date its
    horizon ends on; a re-ingested old drop can change any later label). So only mature dates are built, and a mature
    date is also stale when such a drop was ingested after the mart's rows, or when its rows were labelled under
    another var label_horizon_days (their `label_horizon_days` column). A date the mart holds that is no longer mature
    (a longer horizon) is listed too, and dropped by the mart's last post-hook.
  A date the mart has no rows for is stale. Outside an incremental run every date of the window is built.
-#}
{% macro stale_mart_dates(inputs, with_labels=false) -%}
{%- if is_incremental() -%}
    processing_date in ({{ _stale_mart_date_list(inputs, with_labels) }})
{%- else -%}
    1 = 1
{%- endif -%}
{%- endmacro %}

{#- `dates`: only these dates are considered (their partitions are all the query opens); none: every date (the caller
    keeps the window's; see built_dates for why the inputs are not filtered on it here). -#}
{% macro _stale_mart_date_list(inputs, with_labels, dates=none) -%}
    select inputs.processing_date
    from (
        select processing_date, max(changed_at) as inputs_changed_at
        from (
            {%- for input in inputs %}
            select processing_date, max(built_at) as changed_at
            from {{ ref(input) }}
            {%- if dates is not none %}
            where {{ _dates_predicate(dates) }}
            {%- endif %}
            group by processing_date
            {% if not loop.last or with_labels %}union all{% endif %}
            {%- endfor %}
            {%- if with_labels %}
            {{ labels_changed_at(ref(inputs[0]), dates) }}
            {%- endif %}
        )
        group by processing_date
    ) as inputs
    left join {{ built_dates(with_horizon=with_labels, dates=dates) }} as built
        on inputs.processing_date = built.processing_date
    {%- if with_labels %}
    where {{ stale_mature_date('inputs.processing_date', 'inputs.inputs_changed_at') }}
    {%- else %}
    where inputs.inputs_changed_at > built.built_at
    {%- endif %}
{%- endmacro %}

{#-
  Last post-hook of the incremental marts and label tables: once every date batch is in, drops the partitions of the
  dates that are still stale (their inputs changed, yet the rebuild wrote no rows for them: insert_overwrite only
  replaces partitions that get new rows, so the old rows would stay) and of the dates outside the window (a moved
  window leaves nothing behind). It runs after the build, not before: a build that fails leaves the table as it was.
  A mart's stale dates are the dates its build planned (planned_date_batches): only those are checked again.
-#}
{% macro drop_stale_mart_partitions(inputs, with_labels=false) -%}
{%- if execute and is_incremental() -%}
    {{- _drop_stale_partitions(_stale_mart_date_list(inputs, with_labels, planned_dates())) -}}
{%- endif -%}
{%- endmacro %}

{% macro _drop_stale_partitions(stale_date_list) -%}
{%- if execute and is_incremental() -%}
    {%- set stale -%}
        select distinct toString(processing_date)
        from {{ this }}
        where processing_date not between {{ window_start() }} and {{ window_end() }}
           or processing_date in ({{ stale_date_list }})
        order by 1
    {%- endset -%}
    {{- _drop_partitions(run_query(stale).rows | map('first') | list) -}}
{%- endif -%}
{%- endmacro %}

{#- The statement dropping the partitions of `dates` (YYYY-MM-DD) from this model's table; nothing when there are none. -#}
{% macro _drop_partitions(dates) -%}
    {%- if dates | length > 0 -%}
        alter table {{ this }}
        {%- for day in dates %}
            drop partition '{{ day }}'{{ "," if not loop.last }}
        {%- endfor %}
    {%- endif -%}
{%- endmacro %}
