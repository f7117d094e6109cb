{{ config(order_by=['processing_date', 'alert_id'], post_hook="{{ drop_stale_dates() }}", rebuild={'lookback_days': none}) }}
{#- The dates whose drops changed (macro rebuild_dates): the families read every drop up to a date at most. -#}
{%- set dates_to_build = rebuild_dates() %}

{#- Every alert of the window with every feature: what alert models score, and the base of training_alerts. -#}

-- depends_on: {{ ref('stg_ingested_drops') }}

with alerts as (
    select processing_date, alert_id, address
    from {{ ref('stg_alerts') }}
    where processing_date between {{ window_start() }} and {{ window_end() }}
      and {{ dates_to_build }}
),

alert_attributes as (
    select processing_date, alert_id, {{ float32_features(ref('int_alert_attributes')) }}
    from {{ ref('int_alert_attributes') }}
    where {{ dates_to_build }}
),

address_features as (
    select processing_date, alert_id, {{ float32_features(ref('int_alert_address_features')) }}
    from {{ ref('int_alert_address_features') }}
    where {{ dates_to_build }}
),

network_features as (
    select processing_date, alert_id, {{ float32_features(ref('int_alert_network_features')) }}
    from {{ ref('int_alert_network_features') }}
    where {{ dates_to_build }}
),

temporal_features as (
    select processing_date, alert_id, {{ float32_features(ref('int_alert_temporal_features')) }}
    from {{ ref('int_alert_temporal_features') }}
    where {{ dates_to_build }}
),

statistical_features as (
    select processing_date, alert_id, {{ float32_features(ref('int_alert_statistical_features')) }}
    from {{ ref('int_alert_statistical_features') }}
    where {{ dates_to_build }}
),

cluster_features as (
    select processing_date, alert_id, {{ float32_features(ref('int_alert_cluster_features')) }}
    from {{ ref('int_alert_cluster_features') }}
    where {{ dates_to_build }}
),

final as (
    select
        '{{ validated_network() }}' as network,
        alerts.processing_date as processing_date,
        alerts.alert_id as alert_id,
        alerts.address as address,
        alert_attributes.* except (processing_date, alert_id),
        address_features.* except (processing_date, alert_id),
        network_features.* except (processing_date, alert_id),
        temporal_features.* except (processing_date, alert_id),
        statistical_features.* except (processing_date, alert_id),
        cluster_features.* except (processing_date, alert_id)
    -- The widest family streams; the joined (right) sides are held by grace hash joins, a bucket at a time
    -- (their settings: dbt_project.yml).
    from address_features
    inner join alerts
        on alerts.processing_date = address_features.processing_date and alerts.alert_id = address_features.alert_id
    inner join alert_attributes
        on alerts.processing_date = alert_attributes.processing_date and alerts.alert_id = alert_attributes.alert_id
    inner join network_features
        on alerts.processing_date = network_features.processing_date and alerts.alert_id = network_features.alert_id
    inner join temporal_features
        on alerts.processing_date = temporal_features.processing_date and alerts.alert_id = temporal_features.alert_id
    inner join statistical_features
        on alerts.processing_date = statistical_features.processing_date and alerts.alert_id = statistical_features.alert_id
    inner join cluster_features
        on alerts.processing_date = cluster_features.processing_date and alerts.alert_id = cluster_features.alert_id
)

select final.*, now64(3) as built_at from final
