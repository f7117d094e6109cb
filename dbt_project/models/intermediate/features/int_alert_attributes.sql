{{ config(order_by=['processing_date', 'alert_id'], post_hook="{{ drop_stale_dates() }}", rebuild={'lookback_days': 0}) }}
{#- The dates whose drops changed (macro rebuild_dates); a date's rows read its own drop. -#}
{%- set dates_to_build = rebuild_dates() %}

-- depends_on: {{ ref('stg_ingested_drops') }}

with alerts as (
    select * from {{ ref('stg_alerts') }}
    where processing_date between {{ window_start() }} and {{ window_end() }}
      and {{ dates_to_build }}
),

final as (
    select
        processing_date,
        alert_id,
        toFloat64(multiIf(severity = 'critical', 3, severity = 'high', 2, severity = 'medium', 1, 0)) as severity_level,
        alert_confidence,
        log1p(greatest(volume_usd, 0)) as log_volume_usd,
        -- Open vocabularies (vars typologies, suspected_address_types): unlisted values count as other.
        {{ one_hot('typology_type', 'typologies', 'typology') }},
        {{ one_hot('suspected_address_type', 'suspected_address_types', 'suspected') }},
        toFloat64(JSONLength(evidence_json)) as evidence_field_count,
        toFloat64(length(evidence_json)) as evidence_length,
        toFloat64(length(risk_indicators)) as risk_indicator_count
    from alerts
)

select final.*, now64(3) as built_at from final
