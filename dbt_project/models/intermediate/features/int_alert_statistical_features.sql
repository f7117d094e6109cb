{#- An alert's own history: its address's alerts of the history_days before its date. A date's rows read those
    drops, so a build rewrites the dates whose drops of that span changed (macro rebuild_dates). -#}
{%- set history_days = 30 %}
{{ config(order_by=['processing_date', 'alert_id'], post_hook="{{ drop_stale_dates() }}", rebuild={'lookback_days': history_days}) }}
{%- set dates_to_build = rebuild_dates() %}

-- depends_on: {{ ref('stg_ingested_drops') }}

with alerts as (
    select
        processing_date,
        alert_id,
        address,
        typology_type,
        alert_confidence,
        log1p(greatest(volume_usd, 0)) as log_volume
    from {{ ref('stg_alerts') }}
    where processing_date between {{ window_start() }} and {{ window_end() }}
      and {{ dates_to_build }}
),

alert_history as (
    select
        processing_date,
        address,
        alert_confidence,
        log1p(greatest(volume_usd, 0)) as log_volume
    from {{ ref('stg_alerts') }}
    where processing_date between {{ window_start() }} - {{ history_days }} and {{ window_end() }}
      -- only the history_days before the dates being built, on: a daily build reads 31 days, not the whole window
      and processing_date between (select min(processing_date) from alerts) - {{ history_days }} and (select max(processing_date) from alerts)
      -- only the addresses alerted on the dates being built: a daily build reads one day's addresses' history
      and address in (select address from alerts)
),

address_days as (
    select
        address,
        processing_date,
        toInt64(toUInt32(processing_date)) as day_number,
        count() as alerts_on_day,
        sum(log_volume) as log_volume_sum,
        sum(alert_confidence) as confidence_sum
    from alert_history
    group by address, processing_date
),

own_history as (
    -- The address's alerts of the history_days before the alert's date (the day itself excluded).
    select
        address,
        processing_date,
        sum(alerts_on_day) over trailing as prior_alerts,
        sum(log_volume_sum) over trailing as prior_log_volume_sum,
        sum(confidence_sum) over trailing as prior_confidence_sum
    from address_days
    window trailing as (partition by address order by day_number range between {{ history_days }} preceding and 1 preceding)
),

peer_stats as (
    -- Peers: alerts of the same typology on the same processing date of this network.
    select
        processing_date,
        alert_id,
        address,
        log_volume,
        alert_confidence,
        count() over peers as peer_count,
        avg(log_volume) over peers as peer_mean_log_volume,
        stddevPop(log_volume) over peers as peer_std_log_volume,
        avg(alert_confidence) over peers as peer_mean_confidence,
        stddevPop(alert_confidence) over peers as peer_std_confidence,
        rank() over (partition by processing_date, typology_type order by log_volume) as volume_rank
    from alerts
    window peers as (partition by processing_date, typology_type)
),

final as (
    select
        peer_stats.processing_date as processing_date,
        peer_stats.alert_id as alert_id,
        toFloat64(peer_stats.peer_count) as peer_alert_count,
        if(peer_std_log_volume > 0, (log_volume - peer_mean_log_volume) / peer_std_log_volume, 0) as volume_zscore_in_peers,
        if(peer_count > 1, (volume_rank - 1) / (peer_count - 1), 0.5) as volume_percentile_in_peers,
        if(peer_std_confidence > 0, (alert_confidence - peer_mean_confidence) / peer_std_confidence, 0) as confidence_zscore_in_peers,
        toFloat64(own_history.prior_alerts > 0) as has_own_history,
        if(own_history.prior_alerts > 0, log_volume - own_history.prior_log_volume_sum / own_history.prior_alerts, 0) as volume_vs_own_history,
        if(own_history.prior_alerts > 0, alert_confidence - own_history.prior_confidence_sum / own_history.prior_alerts, 0) as confidence_vs_own_history
    from peer_stats
    left join own_history
        on peer_stats.address = own_history.address
        and peer_stats.processing_date = own_history.processing_date
)

select final.*, now64(3) as built_at from final
