{{ config(order_by=['processing_date', 'alert_id']) }}

{#- The alert-grain training table of alert_scorer and alert_ranker: one row per labelled alert of the window. -#}

with labels as (
    select * from {{ ref('int_alert_labels') }}
),

alert_features as (
    select * from {{ ref('int_alert_features') }}
),

address_features as (
    select * from {{ ref('int_address_features') }}
),

network_features as (
    select * from {{ ref('int_network_features') }}
),

temporal_features as (
    select * from {{ ref('int_temporal_features') }}
),

statistical_features as (
    select * from {{ ref('int_statistical_features') }}
),

cluster_features as (
    select * from {{ ref('int_cluster_features') }}
),

final as (
    select
        '{{ validated_network() }}' as network,
        labels.processing_date as processing_date,
        labels.alert_id as alert_id,
        labels.address as address,
        labels.label as label,
        labels.label_weight as label_weight,
        labels.relevance_grade as relevance_grade,
        alert_features.* except (processing_date, alert_id),
        address_features.* except (processing_date, alert_id),
        network_features.* except (processing_date, alert_id),
        temporal_features.* except (processing_date, alert_id),
        statistical_features.* except (processing_date, alert_id),
        cluster_features.* except (processing_date, alert_id)
    from labels
    inner join alert_features
        on labels.processing_date = alert_features.processing_date and labels.alert_id = alert_features.alert_id
    inner join address_features
        on labels.processing_date = address_features.processing_date and labels.alert_id = address_features.alert_id
    inner join network_features
        on labels.processing_date = network_features.processing_date and labels.alert_id = network_features.alert_id
    inner join temporal_features
        on labels.processing_date = temporal_features.processing_date and labels.alert_id = temporal_features.alert_id
    inner join statistical_features
        on labels.processing_date = statistical_features.processing_date and labels.alert_id = statistical_features.alert_id
    inner join cluster_features
        on labels.processing_date = cluster_features.processing_date and labels.alert_id = cluster_features.alert_id
)

select * from final
