{{ config(order_by=['processing_date', 'cluster_id']) }}

with clusters as (
    select processing_date, cluster_id, member_addresses
    from {{ ref('stg_clusters') }}
    where processing_date between {{ window_start() }} and {{ window_end() }}
),

label_history as (
    select * from {{ ref('int_address_label_history') }}
),

cluster_members as (
    select processing_date, cluster_id, member_address as address
    from clusters
    array join member_addresses as member_address
),

labelled_members as (
    -- Each member's latest label known at or before the cluster's date; unlabelled members drop out.
    select
        cluster_members.processing_date as processing_date,
        cluster_members.cluster_id as cluster_id,
        label_history.is_high_risk as is_high_risk,
        label_history.label_confidence as label_confidence,
        label_history.risk_level as risk_level
    from cluster_members
    asof inner join label_history
        on cluster_members.address = label_history.address
        and cluster_members.processing_date >= label_history.labelled_on
),

final as (
    -- Positive when any labelled member is high risk; clusters with no labelled member are no training rows.
    select
        processing_date,
        cluster_id,
        toUInt8(max(is_high_risk)) as label,
        toFloat32(if(max(is_high_risk) = 1, maxIf(label_confidence, is_high_risk = 1), max(label_confidence))) as label_weight,
        toUInt32(count()) as labelled_members
    from labelled_members
    group by processing_date, cluster_id
)

select * from final
