{#-
  The build log: one row per dbt invocation on the network (build, test, run, ...), written by the on-run-end hook
  into `<network>.dbt_invocations`. It says when each run started, over which window, how many of its nodes failed,
  and whether every source test of the project ran and passed or warned in it (sources_checked) from which date on
  (sources_from).

  An incremental `dbt build` reads it to test only the drops no run has checked since they were (re-)ingested
  (macro unchecked_drops): a drop counts as checked once a run whose source tests all passed started after the
  drop's ingestion and read the drop's date (its window, with the 30 days of history before it). By induction every
  drop of the window is checked, while a daily build reads one new drop instead of the window's hundreds of millions
  of raw rows. A run that left out a source test (--select, --exclude) or had one fail checks nothing; `dbt test`
  reads every drop of the window.
-#}

{% macro build_log() -%}
    {{ validated_network() }}.dbt_invocations
{%- endmacro %}

{#- on-run-start: the log exists before any test reads it. -#}
{% macro create_build_log() -%}
    create table if not exists {{ build_log() }} (
        invocation_id String,
        command LowCardinality(String),
        full_refresh UInt8,
        window_start Date,
        window_end Date,
        sources_from Date,
        started_at DateTime64(3, 'UTC'),
        finished_at DateTime64(3, 'UTC'),
        failed_nodes UInt32,
        sources_checked UInt8
    ) engine = MergeTree order by started_at
{%- endmacro %}

{#- on-run-end: one row for this invocation. `results` are the nodes it ran. -#}
{% macro record_invocation(results) -%}
    {%- if execute -%}
        {%- set statuses = {} -%}
        {%- for result in results -%}
            {%- do statuses.update({result.node.unique_id: result.status | string}) -%}
        {%- endfor -%}
        {%- set failed = statuses.values() | select('in', ['error', 'fail']) | list | length -%}
        {%- set ns = namespace(sources_checked=true) -%}
        {%- for node in graph.nodes.values() if tests_a_source(node) and statuses.get(node.unique_id) not in ['pass', 'warn'] -%}
            {%- set ns.sources_checked = false -%}
        {%- endfor -%}
        insert into {{ build_log() }} values (
            '{{ invocation_id }}', '{{ flags.WHICH }}', {{ 1 if flags.FULL_REFRESH else 0 }}, {{ window_start() }}, {{ window_end() }}, {{ source_history_start() }},
            toDateTime64('{{ run_started_at.strftime('%Y-%m-%d %H:%M:%S.%f')[:23] }}', 3, 'UTC'), now64(3, 'UTC'),
            {{ failed }}, {{ 1 if ns.sources_checked else 0 }}
        )
    {%- else -%}
        select 1
    {%- endif -%}
{%- endmacro %}

{#- True for a data test of a raw table (a source). -#}
{% macro tests_a_source(node) -%}
    {{- return(node.resource_type == 'test' and (node.depends_on.nodes | select('in', graph.sources.keys()) | list | length > 0)) -}}
{%- endmacro %}

{#- The first processing date source tests read: the window's start less the 30 days of history features reach back
    (the sources' tests name it __source_history_start__: macro expand_window_placeholders). -#}
{% macro source_history_start() -%}
    {{ window_start() }} - 30
{%- endmacro %}

{#- SQL predicate on a raw table: its rows belong to a drop no run has checked since the drop was ingested (see above). -#}
{% macro unchecked_drops() -%}
    (processing_date, window_days) not in (
        select drops.processing_date, drops.window_days
        from (
            select processing_date, window_days, max(ingested_at) as ingested_at
            from {{ source('raw', 'ingested_drops') }}
            group by processing_date, window_days
        ) as drops
        cross join (
            select started_at, sources_from, window_end
            from {{ build_log() }}
            where sources_checked = 1
        ) as runs
        where runs.started_at > drops.ingested_at
          and drops.processing_date between runs.sources_from and runs.window_end
    )
{%- endmacro %}
