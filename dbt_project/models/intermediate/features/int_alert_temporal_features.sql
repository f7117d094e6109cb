{{ config(order_by=['processing_date', 'alert_id'], post_hook="{{ drop_stale_dates() }}", rebuild={'lookback_days': none}) }}
{#- The dates whose drops changed (macro rebuild_dates); a date's rows read every drop up to it. -#}
{%- set dates_to_build = rebuild_dates() %}

-- depends_on: {{ ref('stg_ingested_drops') }}

with alerts as (
    select processing_date, alert_id, address
    from {{ ref('stg_alerts') }}
    where processing_date between {{ window_start() }} and {{ window_end() }}
      and {{ dates_to_build }}
),

alert_history as (
    -- Everything known up to the end of the window, of the addresses alerted on the dates being built (a daily build
    -- reads one day's addresses' history, not every address's); each alert below only sees rows at or before its date.
    select processing_date, address, severity
    from {{ ref('stg_alerts') }}
    where processing_date <= {{ window_end() }}
      and address in (select address from alerts)
),

address_days as (
    select
        address,
        processing_date,
        toInt64(toUInt32(processing_date)) as day_number,
        count() as alerts_on_day,
        countIf(severity in ('high', 'critical')) as high_severity_on_day
    from alert_history
    group by address, processing_date
),

rolling as (
    -- Frames end at the current day: no row dated after an alert reaches its features.
    select
        address,
        processing_date,
        day_number,
        alerts_on_day,
        sum(alerts_on_day) over (partition by address order by day_number range between 6 preceding and current row) as alerts_7d,
        sum(alerts_on_day) over (partition by address order by day_number range between 29 preceding and current row) as alerts_30d,
        min(day_number) over (partition by address order by day_number rows between unbounded preceding and current row) as first_alert_day,
        max(if(high_severity_on_day > 0, day_number, null)) over (partition by address order by day_number rows between unbounded preceding and current row) as last_high_severity_day
    from address_days
),

final as (
    select
        alerts.processing_date as processing_date,
        alerts.alert_id as alert_id,
        toFloat64(toDayOfWeek(alerts.processing_date)) as day_of_week,
        toFloat64(toDayOfMonth(alerts.processing_date)) as day_of_month,
        toFloat64(toDayOfWeek(alerts.processing_date) >= 6) as is_weekend,
        toFloat64(rolling.alerts_on_day) as alerts_1d,
        toFloat64(rolling.alerts_7d) as alerts_7d,
        toFloat64(rolling.alerts_30d) as alerts_30d,
        toFloat64(rolling.day_number - rolling.first_alert_day) as days_since_first_alert,
        rolling.alerts_7d / 7 as alert_velocity_7d,
        rolling.alerts_7d / 7 - rolling.alerts_30d / 30 as alert_velocity_change,
        toFloat64(ifNull(rolling.day_number - rolling.last_high_severity_day, -1)) as days_since_high_severity_alert
    from alerts
    inner join rolling
        on alerts.address = rolling.address
        and alerts.processing_date = rolling.processing_date
)

select final.*, now64(3) as built_at from final
