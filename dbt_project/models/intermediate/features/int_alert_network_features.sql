{{ config(order_by=['processing_date', 'alert_id'], post_hook="{{ drop_stale_dates() }}", rebuild={'lookback_days': none}) }}
{#- The dates whose drops changed (macro rebuild_dates); a date's rows read every drop up to it (counterparty labels). -#}
{%- set dates_to_build = rebuild_dates() %}

-- depends_on: {{ ref('stg_ingested_drops') }}

{# Addresses are joined and grouped as 64-bit hashes (address_key): the flow graph of a busy chain has hundreds of
    millions of (date, address, counterparty) keys, and a hash key holds 8 bytes where an address string holds 40 or
    more. Two addresses of one chain colliding is a chance of about n^2 / 2^65 (10^-6 at 10M addresses); the
    features are aggregates, so one collision would blur two addresses' sums, not break the build. #}

with alerts as (
    select processing_date, alert_id, cityHash64(address) as address_key
    from {{ ref('stg_alerts') }}
    where processing_date between {{ window_start() }} and {{ window_end() }}
      and {{ dates_to_build }}
),

flows as (
    -- Only the dates being rebuilt: every flow measure is per processing date, so an unchanged date needs none
    -- of its flows (at 1M alerts this took an unchanged re-build of this model from 13.5 s to under a second).
    select processing_date, cityHash64(from_address) as from_key, cityHash64(to_address) as to_key, amount_usd
    from {{ ref('stg_money_flows') }}
    where processing_date between {{ window_start() }} and {{ window_end() }}
      and from_address != to_address
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

directed_edges as (
    -- Every flow seen from both of its ends.
    select processing_date, from_key as address_key, to_key as counterparty_key, amount_usd, 0 as is_inbound
    from flows
    union all
    select processing_date, to_key as address_key, from_key as counterparty_key, amount_usd, 1 as is_inbound
    from flows
),

counterparty_edges as (
    -- The 1-hop neighbourhood: one row per address, counterparty and processing date.
    select
        processing_date,
        address_key,
        counterparty_key,
        sumIf(amount_usd, is_inbound = 0) as volume_out,
        sumIf(amount_usd, is_inbound = 1) as volume_in,
        volume_out + volume_in as volume
    from directed_edges
    group by processing_date, address_key, counterparty_key
),

node_totals as (
    -- Degree and volume of every address, for the 2-hop reach of its neighbours.
    select processing_date, address_key, count() as degree, sum(volume) as total_volume
    from counterparty_edges
    group by processing_date, address_key
),

alerted_edges as (
    select *
    from counterparty_edges
    where (processing_date, address_key) in (select processing_date, address_key from alerts)
),

alert_dates as (
    -- When each address had alerts (from one drop window before the window start on), for "alerted recently".
    select address_key, processing_date as alerted_on
    from alert_history
),

enriched_edges as (
    select
        alerted_edges.processing_date as processing_date,
        alerted_edges.address_key as address_key,
        alerted_edges.counterparty_key as counterparty_key,
        alerted_edges.volume_out as volume_out,
        alerted_edges.volume_in as volume_in,
        alerted_edges.volume as volume,
        node_totals.degree - 1 as counterparty_onward_degree,
        node_totals.total_volume - alerted_edges.volume as counterparty_onward_volume
    from alerted_edges
    left join node_totals
        on alerted_edges.processing_date = node_totals.processing_date
        and alerted_edges.counterparty_key = node_totals.address_key
),

recency_edges as (
    -- A counterparty alerted recently had an alert inside the drop window that ends on the processing date: its
    -- latest alert date at or before that date is less than window_days before it. (An ASOF join on each address's
    -- alert dates, where expanding every alert over its window's days and deduplicating did not fit in memory at
    -- 10M alerts.)
    select
        enriched_edges.*,
        alert_dates.alerted_on > toDate(0)
            and enriched_edges.processing_date - alert_dates.alerted_on < {{ window_days() }} as counterparty_recently_alerted
    from enriched_edges
    asof left join alert_dates
        on enriched_edges.counterparty_key = alert_dates.address_key
        and enriched_edges.processing_date >= alert_dates.alerted_on
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

address_network as (
    select
        processing_date,
        address_key,
        sum(volume) as total_volume,
        toFloat64(countIf(volume_out > 0)) as net_out_degree,
        toFloat64(countIf(volume_in > 0)) as net_in_degree,
        log1p(sum(volume_out)) as net_log_out_volume_usd,
        log1p(sum(volume_in)) as net_log_in_volume_usd,
        if(total_volume > 0, sum(volume * volume) / (total_volume * total_volume), 0) as net_counterparty_hhi,
        countIf(volume_out > 0 and volume_in > 0) / count() as net_reciprocity,
        if(total_volume > 0, sumIf(volume, counterparty_recently_alerted) / total_volume, 0) as net_alerted_counterparty_volume_share,
        toFloat64(sum(counterparty_onward_degree)) as net_two_hop_reach,
        log1p(greatest(sum(counterparty_onward_volume), 0)) as net_log_two_hop_volume_usd,
        toFloat64(countIf(counterparty_high_risk)) as net_high_risk_counterparties,
        if(total_volume > 0, sumIf(volume, counterparty_high_risk) / total_volume, 0) as net_high_risk_volume_share
    from labelled_edges
    group by processing_date, address_key
),

final as (
    -- Alerts whose address moved no value in the drop have no edges: every measure is then truly 0.
    select
        alerts.processing_date as processing_date,
        alerts.alert_id as alert_id,
        toFloat64(address_network.address_key != 0) as net_has_flows,
        address_network.net_out_degree as net_out_degree,
        address_network.net_in_degree as net_in_degree,
        address_network.net_log_out_volume_usd as net_log_out_volume_usd,
        address_network.net_log_in_volume_usd as net_log_in_volume_usd,
        address_network.net_counterparty_hhi as net_counterparty_hhi,
        address_network.net_reciprocity as net_reciprocity,
        address_network.net_alerted_counterparty_volume_share as net_alerted_counterparty_volume_share,
        address_network.net_two_hop_reach as net_two_hop_reach,
        address_network.net_log_two_hop_volume_usd as net_log_two_hop_volume_usd,
        address_network.net_high_risk_counterparties as net_high_risk_counterparties,
        address_network.net_high_risk_volume_share as net_high_risk_volume_share
    from alerts
    left join address_network
        on alerts.processing_date = address_network.processing_date
        and alerts.address_key = address_network.address_key
)

select final.*, now64(3) as built_at from final
