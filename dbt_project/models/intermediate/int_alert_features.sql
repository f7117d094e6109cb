{{ config(
    materialized='incremental',
    incremental_strategy='insert_overwrite',
    partition_by='processing_date',
    order_by=['processing_date', 'alert_id'],
) }}

-- depends_on: {{ ref('stg_ingested_drops') }}

{%- set typologies = ['fan_in', 'fan_out', 'peel_chain', 'structuring', 'mixer_hop', 'layering', 'rapid_movement'] -%}
{%- set address_types = ['eoa', 'contract', 'exchange', 'mixer', 'bridge'] %}

with alerts as (
    select * from {{ ref('stg_alerts') }}
    where processing_date between {{ window_start() }} and {{ window_end() }}
      and {{ stale_dates(0) }}
),

final as (
    select
        processing_date,
        alert_id,
        toFloat64(multiIf(severity = 'critical', 3, severity = 'high', 2, severity = 'medium', 1, 0)) as severity_level,
        alert_confidence,
        log1p(greatest(volume_usd, 0)) as log_volume_usd,
        {% for typology in typologies -%}
        toFloat64(typology_type = '{{ typology }}') as typology_{{ typology }},
        {% endfor -%}
        {% for address_type in address_types -%}
        toFloat64(suspected_address_type = '{{ address_type }}') as suspected_{{ address_type }},
        {% endfor -%}
        toFloat64(JSONLength(evidence_json)) as evidence_field_count,
        toFloat64(length(evidence_json)) as evidence_length,
        toFloat64(length(risk_indicators)) as risk_indicator_count
    from alerts
)

select final.*, now64(3) as built_at from final
