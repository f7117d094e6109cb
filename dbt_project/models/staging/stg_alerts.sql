with source as (
    select * from {{ source('raw', 'raw_alerts') }}
),

renamed as (
    select
        processing_date,
        alert_id,
        address,
        typology_type,
        pattern_type,
        severity,
        suspected_address_type,
        toFloat64(alert_confidence_score) as alert_confidence,
        toFloat64(volume_usd) as volume_usd,
        evidence_json,
        risk_indicators,
        created_at
    from source
    where {{ visible_drops() }}
)

select * from renamed
