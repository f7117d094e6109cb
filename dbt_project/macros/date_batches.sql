{#-
  Date batches: a model whose work grows with the window in one query (the network family aggregates the whole
  money-flow graph; the marts join every family) builds its dates in batches of whole dates, in date order, of at
  most `rows_limit` rows of the model `rows_of` each, one query per batch, so a query's memory follows the batch,
  not the window.

  - `date_batch_filter(stale, rows_of, rows_limit)` is the model's date predicate: the first batch of the dates this
    build must write, `stale` being the model's own predicate of them (stale_dates, stale_label_dates or
    stale_mart_dates). The plan of every batch rides along in the compiled SQL as a comment (`/* date batches: ... */`),
    so the post-hooks read it instead of asking the engine again. Without `rows_of`, an incremental build's dates are
    one batch: the feature families and label tables use it to evaluate their stale predicate once, before the
    query, and read literal dates (partition pruning in every CTE that filters on them) instead of a subquery the
    engine would evaluate once per CTE that repeats it;
  - the post-hook `build_remaining_date_batches()` builds each further batch of the plan with the same SQL into a
    scratch table and swaps its partitions in, like insert_overwrite does for the first.
  A window whose dates fit in one batch (the sample data, any daily build) runs as one query, as before. Unit tests
  (`model.resource_type` is not `model`) keep the plain `stale` predicate.
-#}
{% macro date_batch_filter(stale, rows_of=none, rows_limit=none) -%}
    {%- if not execute or model.resource_type != 'model' or (rows_of is none and not is_incremental()) -%}
        {{ stale }}
    {%- else -%}
        {%- set batches = _date_batches(stale, rows_of, rows_limit) -%}
        {{ _dates_predicate(batches[0] if batches else []) }} /* date batches: {{ batches | map('join', ' ') | join('; ') }} */
    {%- endif -%}
{%- endmacro %}

{#- The date batches this model's compiled SQL plans (see date_batch_filter): a list of lists of 'YYYY-MM-DD'. -#}
{% macro planned_date_batches() -%}
    {%- set plan = modules.re.search("/\\* date batches: ([0-9; -]*) \\*/", sql) -%}
    {%- set batches = [] -%}
    {%- for batch in (plan.group(1).split(';') if plan else []) if batch.strip() -%}
        {%- do batches.append(batch.split()) -%}
    {%- endfor -%}
    {{- return(batches) -}}
{%- endmacro %}

{#- Every date of the plan, in one list. -#}
{% macro planned_dates() -%}
    {%- set dates = [] -%}
    {%- for batch in planned_date_batches() -%}
        {%- do dates.extend(batch) -%}
    {%- endfor -%}
    {{- return(dates) -}}
{%- endmacro %}

{#- `column` (a Date column) in the literal `dates`; false for none. -#}
{% macro _dates_predicate(dates, column='processing_date') -%}
    {%- if dates -%}
        {{ column }} in ({% for day in dates %}toDate('{{ day }}'){{ ', ' if not loop.last }}{% endfor %})
    {%- else -%}
        {{ column }} in (toDate('1970-01-01')) and 0 = 1
    {%- endif -%}
{%- endmacro %}

{#- The dates this build writes (window dates with a drop, matching `stale`) in batches of whole dates of at most
    `rows_limit` rows of `rows_of`. The rows are counted for those dates only (a daily build counts one date). -#}
{% macro _date_batches(stale, rows_of, rows_limit) -%}
    {%- set dates_sql -%}
        select distinct toString(processing_date)
        from {{ ref('stg_ingested_drops') }}
        where processing_date between {{ window_start() }} and {{ window_end() }}
          and {{ stale }}
        order by 1
    {%- endset -%}
    {%- set dates = run_query(dates_sql).rows | map('first') | list -%}
    {%- if dates | length < 2 or rows_of is none -%}
        {{- return([dates] if dates else []) -}}
    {%- endif -%}
    {%- set rows_sql -%}
        select toString(processing_date), count()
        from {{ ref(rows_of) }}
        where {{ _dates_predicate(dates) }}
        group by processing_date
    {%- endset -%}
    {%- set rows = dict(run_query(rows_sql).rows | map('list') | list) -%}
    {%- set limit = rows_limit | int -%}
    {%- set batches = [] -%}
    {%- set current = {'dates': [], 'rows': 0} -%}
    {%- for day in dates -%}
        {%- set day_rows = rows.get(day, 0) -%}
        {%- if current['dates'] and current['rows'] + day_rows > limit -%}
            {%- do batches.append(current['dates']) -%}
            {%- do current.update({'dates': [], 'rows': 0}) -%}
        {%- endif -%}
        {%- do current['dates'].append(day) -%}
        {%- do current.update({'rows': current['rows'] + day_rows}) -%}
    {%- endfor -%}
    {%- if current['dates'] -%}
        {%- do batches.append(current['dates']) -%}
    {%- endif -%}
    {{- return(batches) -}}
{%- endmacro %}

{% macro build_remaining_date_batches() -%}
{%- if execute and model.resource_type == 'model' -%}
    {%- set batch_pattern = "processing_date in \\(toDate\\('[0-9-]{10}'\\)(, toDate\\('[0-9-]{10}'\\))*\\)" -%}
    {%- set scratch = this.incorporate(path={'identifier': this.identifier ~ '__date_batch'}) -%}
    {#- The first batch is the one the model's own query built. -#}
    {%- for dates in planned_date_batches()[1:] -%}
        {%- set batch_sql = modules.re.sub(batch_pattern, _dates_predicate(dates), sql) -%}
        {%- do log('building ' ~ this.identifier ~ ' for ' ~ dates[0] ~ '..' ~ dates[-1] ~ ' (' ~ dates | length ~ ' dates)', info=true) -%}
        {%- do run_query('drop table if exists ' ~ scratch) -%}
        {%- do run_query('create table ' ~ scratch ~ ' as ' ~ this) -%}
        {%- do run_query('insert into ' ~ scratch ~ ' select * from (' ~ batch_sql ~ ') ' ~ adapter.get_model_query_settings(model)) -%}
        {%- set partitions = run_query("select distinct partition_id from system.parts where active and database = '" ~ scratch.schema ~ "' and table = '" ~ scratch.identifier ~ "'").rows | map('first') | list -%}
        {%- if partitions -%}
            {%- do run_query('alter table ' ~ this ~ ' ' ~ _replace_partitions(partitions, scratch)) -%}
        {%- endif -%}
        {%- do run_query('drop table if exists ' ~ scratch) -%}
    {%- endfor -%}
{%- endif -%}
{%- endmacro %}

{% macro _replace_partitions(partitions, scratch) -%}
    {%- for partition in partitions -%}
        replace partition id '{{ partition }}' from {{ scratch }}{{ ', ' if not loop.last }}
    {%- endfor -%}
{%- endmacro %}
