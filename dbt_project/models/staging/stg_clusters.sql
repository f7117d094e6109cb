with source as (
    select * from {{ source('raw', 'raw_clusters') }}
),

renamed as (
    select
        processing_date,
        cluster_id,
        cluster_type,
        primary_address,
        primary_alert_id,
        arrayDistinct(arrayPushFront(related_alert_ids, primary_alert_id)) as member_alert_ids,
        addresses_involved as member_addresses,
        toFloat64(total_alerts) as total_alerts,
        toFloat64(total_volume_usd) as total_volume_usd,
        severity_max,
        toFloat64(confidence_avg) as confidence_avg,
        earliest_alert_timestamp,
        latest_alert_timestamp
    from source
    where {{ visible_drops() }}
)

select * from renamed
