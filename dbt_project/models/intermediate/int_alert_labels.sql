{{ config(order_by=['processing_date', 'alert_id']) }}

with alerts as (
    select processing_date, alert_id, address
    from {{ ref('stg_alerts') }}
    where processing_date between {{ window_start() }} and {{ window_end() }}
),

label_history as (
    select * from {{ ref('int_address_label_history') }}
),

labelled_alerts as (
    -- The address's latest label known at or before the alert's processing date. Alerts on addresses with
    -- no label yet drop out here: they are not training rows.
    select
        alerts.processing_date as processing_date,
        alerts.alert_id as alert_id,
        alerts.address as address,
        label_history.labelled_on as labelled_on,
        label_history.risk_level as risk_level,
        label_history.label_confidence as label_confidence
    from alerts
    asof inner join label_history
        on alerts.address = label_history.address
        and alerts.processing_date >= label_history.labelled_on
),

final as (
    select
        processing_date,
        alert_id,
        address,
        labelled_on,
        risk_level,
        toUInt8(risk_level in ('high', 'critical')) as label,
        toFloat32(label_confidence) as label_weight,
        toUInt8(multiIf(risk_level = 'critical', 3, risk_level = 'high', 2, risk_level = 'medium', 1, 0)) as relevance_grade
    from labelled_alerts
)

select * from final
