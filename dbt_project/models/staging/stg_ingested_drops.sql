with source as (
    select * from {{ source('raw', 'ingested_drops') }} final
),

renamed as (
    select
        processing_date,
        window_days,
        ingested_at
    from source
    where window_days = {{ window_days() }}
      and complete = 1
)

select * from renamed
