{{ config(order_by=['processing_date', 'address_key', 'counterparty_key'], post_hook="{{ drop_stale_dates() }}", rebuild={'lookback_days': none}) }}
{#- The dates whose drops changed (macro rebuild_dates); a date's rows read every drop up to it (counterparty labels). -#}
{%- set dates_to_build = rebuild_dates() %}

-- depends_on: {{ ref('stg_ingested_drops') }}

{# The alerted addresses' edges of int_address_counterparty_edges, each with what the network family needs of its
    counterparty: its 2-hop reach and whether it was alerted recently or labelled high risk. Stored sorted by
    (processing_date, address_key, counterparty_key), so int_alert_network_features aggregates each address as its
    edges are read. #}

with alerts as (
    select processing_date, cityHash64(address) as address_key
    from {{ ref('stg_alerts') }}
    where processing_date between {{ window_start() }} and {{ window_end() }}
      and {{ dates_to_build }}
),

counterparty_edges as (
    select processing_date, address_key, counterparty_key, volume_out, volume_in, volume
    from {{ ref('int_address_counterparty_edges') }}
    where processing_date between {{ window_start() }} and {{ window_end() }}
      and {{ dates_to_build }}
),

alert_history as (
    -- Only the alert dates the dates being built can look back on (one drop window before the first of them, on):
    -- a batch of 9 dates of 10M alerts reads 1.7M alerts here instead of 10M (17 s instead of 21.6 s a batch).
    select processing_date, cityHash64(address) as address_key
    from {{ ref('stg_alerts') }}
    where processing_date between {{ window_start() }} - {{ window_days() }} and {{ window_end() }}
      and processing_date between (select min(processing_date) from alerts) - {{ window_days() }}
                              and (select max(processing_date) from alerts)
),

label_history as (
    select cityHash64(address) as address_key, labelled_on, is_high_risk
    from {{ ref('int_address_label_history') }}
),

counterparty_reach as (
    -- The 2-hop reach through each counterparty: its degree and volume beyond this edge. The graph is symmetric
    -- (every flow is seen from both ends), so a counterparty's own edges number and weigh as the rows it is the
    -- counterparty of: a window over those. The edges are read in their stored order (query_settings in
    -- dbt_project.yml), so the window sorts one date at a time, where aggregating the graph again by address and
    -- joining the totals back held every address of the window in memory.
    select
        processing_date,
        address_key,
        counterparty_key,
        volume_out,
        volume_in,
        volume,
        count() over counterparty - 1 as counterparty_onward_degree,
        sum(volume) over counterparty - volume as counterparty_onward_volume
    from counterparty_edges
    window counterparty as (partition by processing_date, counterparty_key)
),

alerted_edges as (
    select *
    from counterparty_reach
    where (processing_date, address_key) in (select processing_date, address_key from alerts)
),

alert_dates as (
    -- When each address had alerts (from one drop window before the window start on), for "alerted recently".
    select address_key, processing_date as alerted_on
    from alert_history
),

recency_edges as (
    -- A counterparty alerted recently had an alert inside the drop window that ends on the processing date: its
    -- latest alert date at or before that date is less than window_days before it. (An ASOF join on each address's
    -- alert dates, where expanding every alert over its window's days and deduplicating did not fit in memory at
    -- 10M alerts.)
    select
        alerted_edges.*,
        alert_dates.alerted_on > toDate(0)
            and alerted_edges.processing_date - alert_dates.alerted_on < {{ window_days() }} as counterparty_recently_alerted
    from alerted_edges
    asof left join alert_dates
        on alerted_edges.counterparty_key = alert_dates.address_key
        and alerted_edges.processing_date >= alert_dates.alerted_on
),

labelled_edges as (
    -- A counterparty's latest label known strictly before the processing date; the address's own label
    -- never enters (an address is not its own counterparty).
    select
        recency_edges.*,
        label_history.is_high_risk = 1 as counterparty_high_risk
    from recency_edges
    asof left join label_history
        on recency_edges.counterparty_key = label_history.address_key
        and recency_edges.processing_date > label_history.labelled_on
),

final as (
    select
        processing_date,
        address_key,
        counterparty_key,
        volume_out,
        volume_in,
        volume,
        counterparty_onward_degree,
        counterparty_onward_volume,
        counterparty_recently_alerted,
        counterparty_high_risk
    from labelled_edges
)

select final.*, now64(3) as built_at from final
