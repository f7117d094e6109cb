{{ config(order_by=['processing_date', 'alert_id'], post_hook="{{ drop_stale_dates(last='least(' ~ window_end() ~ ', ' ~ labels_mature_through() ~ ')') }}", rebuild={'lookback_days': none, 'label_horizon': true}) }}
{#- Labelled rows: a date's rows read every drop up to the date plus the horizon (macro rebuild_dates, as the label
    tables), mature dates only. -#}
{%- set dates_to_build = rebuild_dates() %}

{#- The alert-grain training table of alert_scorer and alert_ranker: one row per labelled alert of the window. -#}

-- depends_on: {{ ref('stg_alerts') }}
-- depends_on: {{ ref('stg_ingested_drops') }}

with labels as (
    select * from {{ ref('int_alert_labels') }}
    where {{ dates_to_build }}
),

scoring_alerts as (
    select * from {{ ref('scoring_alerts') }}
    where {{ dates_to_build }}
),

final as (
    select
        scoring_alerts.network as network,
        labels.processing_date as processing_date,
        labels.alert_id as alert_id,
        labels.address as address,
        labels.label as label,
        labels.label_weight as label_weight,
        labels.relevance_grade as relevance_grade,
        scoring_alerts.* except (network, processing_date, alert_id, address, built_at)
    -- The wide mart streams; ClickHouse holds the joined (right) side in memory, here the narrow labels.
    from scoring_alerts
    inner join labels
        on labels.processing_date = scoring_alerts.processing_date
        and labels.alert_id = scoring_alerts.alert_id
)

select final.*, toUInt16({{ label_horizon_days() }}) as label_horizon_days, now64(3) as built_at from final
