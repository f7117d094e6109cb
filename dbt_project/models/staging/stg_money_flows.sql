with source as (
    select * from {{ source('raw', 'raw_money_flows') }}
),

renamed as (
    select
        processing_date,
        from_address,
        to_address,
        toFloat64(tx_count) as tx_count,
        toFloat64(amount_usd_sum) as amount_usd,
        is_bidirectional
    from source
    where {{ visible_drops() }}
)

select * from renamed
