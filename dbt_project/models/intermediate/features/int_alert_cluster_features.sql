{{ config(order_by=['processing_date', 'alert_id'], post_hook="{{ drop_stale_dates() }}", rebuild={'lookback_days': 0}) }}
{#- The dates whose drops changed (macro rebuild_dates); a date's rows read its own drop. -#}
{%- set dates_to_build = rebuild_dates() %}

-- depends_on: {{ ref('stg_ingested_drops') }}

with alerts as (
    select processing_date, alert_id
    from {{ ref('stg_alerts') }}
    where processing_date between {{ window_start() }} and {{ window_end() }}
      and {{ dates_to_build }}
),

clusters as (
    -- Only the dates being rebuilt: every join below is within one processing date.
    select * from {{ ref('stg_clusters') }}
    where processing_date between {{ window_start() }} and {{ window_end() }}
      and {{ dates_to_build }}
),

cluster_profiles as (
    select * from {{ ref('int_cluster_profiles') }}
    where processing_date between {{ window_start() }} and {{ window_end() }}
      and {{ dates_to_build }}
),

memberships as (
    select processing_date, cluster_id, member_alert_id as alert_id
    from clusters
    array join member_alert_ids as member_alert_id
),

alert_clusters as (
    -- An alert can sit in several clusters: take the strongest signal of each measure across them.
    select
        memberships.processing_date as processing_date,
        memberships.alert_id as alert_id,
        count() as cluster_count,
        max(cluster_profiles.cluster_size) as max_cluster_size,
        max(cluster_profiles.cluster_log_volume_usd) as max_cluster_log_volume_usd,
        max(cluster_profiles.cluster_max_severity) as max_cluster_severity,
        avg(cluster_profiles.cluster_mean_confidence) as mean_cluster_confidence,
        max(cluster_profiles.cluster_duration_hours) as max_cluster_duration_hours,
        max(cluster_profiles.cluster_member_high_severity_share) as max_cluster_high_severity_share,
        max(cluster_profiles.cluster_address_count) as max_cluster_address_count
    from memberships
    inner join cluster_profiles
        on memberships.processing_date = cluster_profiles.processing_date
        and memberships.cluster_id = cluster_profiles.cluster_id
    group by processing_date, alert_id
),

final as (
    -- Alerts in no cluster: every measure is 0 and in_cluster says so.
    select
        alerts.processing_date as processing_date,
        alerts.alert_id as alert_id,
        toFloat64(alert_clusters.alert_id != '') as in_cluster,
        toFloat64(alert_clusters.cluster_count) as cluster_count,
        alert_clusters.max_cluster_size as max_cluster_size,
        alert_clusters.max_cluster_log_volume_usd as max_cluster_log_volume_usd,
        alert_clusters.max_cluster_severity as max_cluster_severity,
        alert_clusters.mean_cluster_confidence as mean_cluster_confidence,
        alert_clusters.max_cluster_duration_hours as max_cluster_duration_hours,
        alert_clusters.max_cluster_high_severity_share as max_cluster_high_severity_share,
        alert_clusters.max_cluster_address_count as max_cluster_address_count
    from alerts
    left join alert_clusters
        on alerts.processing_date = alert_clusters.processing_date
        and alerts.alert_id = alert_clusters.alert_id
)

select final.*, now64(3) as built_at from final
