with source as (
    select * from {{ source('raw', 'raw_address_labels') }}
),

renamed as (
    select
        processing_date as labelled_on,
        address,
        label,
        risk_level,
        toFloat64(confidence_score) as label_confidence,
        source as label_source
    from source
    where {{ visible_drops() }}
      and network = '{{ validated_network() }}'
)

select * from renamed
