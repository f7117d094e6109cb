{{ config(order_by=['processing_date', 'alert_id'], post_hook="{{ drop_stale_dates(last='least(' ~ window_end() ~ ', ' ~ labels_mature_through() ~ ')') }}", rebuild={'lookback_days': none, 'label_horizon': true}) }}
{#- A date's labels read every drop up to the date plus the horizon, under var label_horizon_days: a build rewrites
    the dates whose drops of that span changed or that were labelled under another horizon (macro rebuild_dates), and
    drops the dates that are not mature (any more). -#}
{%- set dates_to_build = rebuild_dates() %}

{#- The label is an outcome: the address's latest risk level known at or before processing_date + horizon
    (var label_horizon_days). Features never see it; only label, label_weight and relevance_grade carry it. Only mature
    dates are labelled (macro labels_mature_through): a later drop can still change a label whose cutoff it reaches. -#}

with alerts as (
    select processing_date, alert_id, address, processing_date + {{ label_horizon_days() }} as label_cutoff
    from {{ ref('stg_alerts') }}
    where processing_date between {{ window_start() }} and {{ window_end() }}
      and processing_date <= {{ labels_mature_through() }}
      and {{ dates_to_build }}
),

label_history as (
    -- Only the addresses of the alerts being built: a daily build reads the history of the horizon's addresses.
    select * from {{ ref('int_address_label_history') }}
    where address in (select address from alerts)
),

labelled_alerts as (
    -- The address's latest label known at or before the alert's label cutoff. Alerts on addresses with no label
    -- by then drop out here: they are not training rows.
    select
        alerts.processing_date as processing_date,
        alerts.alert_id as alert_id,
        alerts.address as address,
        alerts.label_cutoff as label_cutoff,
        label_history.labelled_on as labelled_on,
        label_history.risk_level as risk_level,
        label_history.label_confidence as label_confidence
    from alerts
    asof inner join label_history
        on alerts.address = label_history.address
        and alerts.label_cutoff >= label_history.labelled_on
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
        toUInt8(multiIf(risk_level = 'critical', 3, risk_level = 'high', 2, risk_level = 'medium', 1, 0)) as relevance_grade,
        label_cutoff
    from labelled_alerts
)

select final.*, toUInt16({{ label_horizon_days() }}) as label_horizon_days, now64(3) as built_at from final
