{{ config(order_by=['processing_date', 'alert_id'], post_hook="{{ drop_stale_dates() }}", rebuild={'lookback_days': none}) }}
{#- The dates whose drops changed (macro rebuild_dates); a date's rows read every drop up to it (counterparty labels). -#}
{%- set dates_to_build = rebuild_dates() %}

-- depends_on: {{ ref('stg_ingested_drops') }}

{# The alerted addresses' edges come from int_address_counterparty_reach, sorted by (processing_date, address_key,
    counterparty_key) and read in that order (query_settings in dbt_project.yml): each address's measures are
    aggregated as its edges pass, so the query holds no date's graph, let alone the window's. #}

with alerts as (
    select processing_date, alert_id, cityHash64(address) as address_key
    from {{ ref('stg_alerts') }}
    where processing_date between {{ window_start() }} and {{ window_end() }}
      and {{ dates_to_build }}
),

counterparty_edges as (
    select *
    from {{ ref('int_address_counterparty_reach') }}
    where processing_date between {{ window_start() }} and {{ window_end() }}
      and {{ dates_to_build }}
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
    from counterparty_edges
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
