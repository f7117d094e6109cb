{{ config(order_by=['processing_date', 'cluster_id'], post_hook="{{ drop_stale_dates() }}", rebuild={'lookback_days': 0}) }}
{#- The dates whose drops changed (macro rebuild_dates); a date's rows read its own drop. -#}
{%- set dates_to_build = rebuild_dates() %}

-- depends_on: {{ ref('stg_ingested_drops') }}

with clusters as (
    select * from {{ ref('stg_clusters') }}
    where processing_date between {{ window_start() }} and {{ window_end() }}
      and {{ dates_to_build }}
),

alerts as (
    select processing_date, alert_id, address, severity, alert_confidence, log1p(greatest(volume_usd, 0)) as log_volume
    from {{ ref('stg_alerts') }}
    where processing_date between {{ window_start() }} and {{ window_end() }}
      and {{ dates_to_build }}  -- joins are within one processing date: only the dates being rebuilt
),

address_features as (
    select processing_date, address, behavioral_anomaly_score, graph_anomaly_score, structuring_score, is_mixer_like
    from {{ ref('stg_features') }}
    where processing_date between {{ window_start() }} and {{ window_end() }}
      and {{ dates_to_build }}
),

primary_alerts as (
    select processing_date, alert_id, address
    from alerts
),

member_alerts as (
    select processing_date, cluster_id, member_alert_id as alert_id
    from clusters
    array join member_alert_ids as member_alert_id
),

member_alert_stats as (
    select
        member_alerts.processing_date as processing_date,
        member_alerts.cluster_id as cluster_id,
        count() as member_alert_count,
        avg(alerts.alert_confidence) as member_mean_confidence,
        max(alerts.log_volume) as member_max_log_volume,
        avg(alerts.severity in ('high', 'critical')) as member_high_severity_share
    from member_alerts
    inner join alerts
        on member_alerts.processing_date = alerts.processing_date
        and member_alerts.alert_id = alerts.alert_id
    group by processing_date, cluster_id
),

member_addresses as (
    select processing_date, cluster_id, member_address as address
    from clusters
    array join member_addresses as member_address
),

member_address_stats as (
    -- Upstream features of the member addresses, from the same drop.
    select
        member_addresses.processing_date as processing_date,
        member_addresses.cluster_id as cluster_id,
        count() as member_address_count,
        countIf(address_features.address != '') / count() as member_feature_coverage,
        -- Upstream values that are NaN or infinite (an undefined statistic) are left out of the aggregates.
        avgIf(address_features.behavioral_anomaly_score, address_features.address != '' and isFinite(address_features.behavioral_anomaly_score)) as member_mean_behavioral_anomaly,
        maxIf(address_features.graph_anomaly_score, address_features.address != '' and isFinite(address_features.graph_anomaly_score)) as member_max_graph_anomaly,
        maxIf(address_features.structuring_score, address_features.address != '' and isFinite(address_features.structuring_score)) as member_max_structuring_score,
        avgIf(address_features.is_mixer_like, address_features.address != '') as member_mixer_like_share
    from member_addresses
    left join address_features
        on member_addresses.processing_date = address_features.processing_date
        and member_addresses.address = address_features.address
    group by processing_date, cluster_id
),

final as (
    select
        clusters.processing_date as processing_date,
        clusters.cluster_id as cluster_id,
        -- The cluster's entity for train/test separation. Upstream may leave primary_address empty: then the
        -- primary alert's address, else the first member address, else the cluster itself.
        multiIf(
            clusters.primary_address != '', clusters.primary_address,
            primary_alerts.address != '', primary_alerts.address,
            notEmpty(clusters.member_addresses), clusters.member_addresses[1],
            clusters.cluster_id
        ) as primary_address,
        -- An open vocabulary (var cluster_types): unlisted types count as cluster_type_other.
        {{ one_hot('clusters.cluster_type', 'cluster_types', 'cluster_type') }},
        clusters.total_alerts as cluster_size,
        log1p(greatest(clusters.total_volume_usd, 0)) as cluster_log_volume_usd,
        toFloat64(multiIf(lower(clusters.severity_max) = 'critical', 3, lower(clusters.severity_max) = 'high', 2, lower(clusters.severity_max) = 'medium', 1, 0)) as cluster_max_severity,
        clusters.confidence_avg as cluster_mean_confidence,
        greatest({{ unix_seconds('clusters.latest_alert_timestamp') }} - {{ unix_seconds('clusters.earliest_alert_timestamp') }}, 0) / 3600 as cluster_duration_hours,
        toFloat64(member_alert_stats.member_alert_count) as cluster_member_alerts_found,
        member_alert_stats.member_mean_confidence as cluster_member_mean_confidence,
        member_alert_stats.member_max_log_volume as cluster_member_max_log_volume,
        member_alert_stats.member_high_severity_share as cluster_member_high_severity_share,
        toFloat64(member_address_stats.member_address_count) as cluster_address_count,
        member_address_stats.member_feature_coverage as cluster_member_feature_coverage,
        if(isFinite(member_address_stats.member_mean_behavioral_anomaly), member_address_stats.member_mean_behavioral_anomaly, -1.0) as cluster_member_mean_behavioral_anomaly,
        if(member_address_stats.member_feature_coverage > 0, member_address_stats.member_max_graph_anomaly, -1.0) as cluster_member_max_graph_anomaly,
        if(member_address_stats.member_feature_coverage > 0, member_address_stats.member_max_structuring_score, -1.0) as cluster_member_max_structuring_score,
        if(isFinite(member_address_stats.member_mixer_like_share), member_address_stats.member_mixer_like_share, -1.0) as cluster_member_mixer_like_share
    from clusters
    left join primary_alerts
        on clusters.processing_date = primary_alerts.processing_date
        and clusters.primary_alert_id = primary_alerts.alert_id
    left join member_alert_stats
        on clusters.processing_date = member_alert_stats.processing_date
        and clusters.cluster_id = member_alert_stats.cluster_id
    left join member_address_stats
        on clusters.processing_date = member_address_stats.processing_date
        and clusters.cluster_id = member_address_stats.cluster_id
)

select final.*, now64(3) as built_at from final
