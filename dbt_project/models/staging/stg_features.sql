{#- The upstream address features the feature families read, as Float64. -#}
with source as (
    select * from {{ source('raw', 'raw_features') }}
),

renamed as (
    select
        processing_date,
        address,
        {% for column in var('address_feature_columns') -%}
        toFloat64({{ column }}) as {{ column }}{{ ',' if not loop.last }}
        {% endfor %}
    from source
    where window_days = {{ window_days() }}
      and (processing_date, window_days) in (select processing_date, window_days from {{ ref('stg_ingested_drops') }})
)

select * from renamed
