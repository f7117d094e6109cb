{{ config(
    materialized='incremental',
    incremental_strategy='insert_overwrite',
    partition_by='processing_date',
    order_by=['processing_date', 'alert_id'],
) }}

-- depends_on: {{ ref('stg_ingested_drops') }}

{#- The upstream address features (var address_feature_columns) are all >= 0, so -1 marks "no upstream record". -#}
{%- set address_columns = var('address_feature_columns') %}

with alerts as (
    select processing_date, alert_id, address
    from {{ ref('stg_alerts') }}
    where processing_date between {{ window_start() }} and {{ window_end() }}
      and {{ stale_dates(0) }}
),

address_features as (
    select * from {{ ref('stg_features') }}
    where processing_date between {{ window_start() }} and {{ window_end() }}
),

joined as (
    -- The features upstream computed for the alert's address in the same drop (same processing date).
    select
        alerts.processing_date as processing_date,
        alerts.alert_id as alert_id,
        address_features.address != '' as has_record,
        {% for column in address_columns -%}
        address_features.{{ column }} as upstream_{{ column }}{{ ',' if not loop.last }}
        {% endfor -%}
    from alerts
    left join address_features
        on alerts.address = address_features.address
        and alerts.processing_date = address_features.processing_date
),

final as (
    -- Missing upstream records are not zero-filled: they carry -1 and has_address_features = 0, and the
    -- training table's coverage test fails the build when too many are missing.
    select
        processing_date,
        alert_id,
        toFloat64(has_record) as has_address_features,
        {% for column in address_columns -%}
        if(has_record, upstream_{{ column }}, -1.0) as {{ column }}{{ ',' if not loop.last }}
        {% endfor %}
    from joined
)

select final.*, now64(3) as built_at from final
