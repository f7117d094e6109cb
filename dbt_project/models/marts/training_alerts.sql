{{ config(order_by=['processing_date', 'alert_id']) }}

{#- The alert-grain training table of alert_scorer and alert_ranker: one row per labelled alert of the window. -#}

with labels as (
    -- Mature labels only: a label whose horizon reaches past the newest drop may still change.
    select * from {{ ref('int_alert_labels') }}
    where label_is_mature = 1
),

scoring_alerts as (
    select * from {{ ref('scoring_alerts') }}
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
        scoring_alerts.* except (network, processing_date, alert_id, address)
    from labels
    inner join scoring_alerts
        on labels.processing_date = scoring_alerts.processing_date
        and labels.alert_id = scoring_alerts.alert_id
)

select * from final
