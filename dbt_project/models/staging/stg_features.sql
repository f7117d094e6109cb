{#- Every numeric and boolean upstream address feature, as Float64 (booleans 0/1); the list is read from raw_features. -#}
with source as (
    select * from {{ source('raw', 'raw_features') }}
),

renamed as (
    select
        processing_date,
        address,
        {% for column in upstream_numeric_columns() -%}
        toFloat64({{ column }}) as {{ column }},
        {% endfor -%}
        created_at as computed_at
    from source
    where {{ visible_drops() }}
)

select * from renamed
