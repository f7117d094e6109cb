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
    where window_days = {{ window_days() }}
      and (processing_date, window_days) in (select processing_date, window_days from {{ ref('stg_ingested_drops') }})
)

select * from renamed
