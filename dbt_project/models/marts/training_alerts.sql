{%- set inputs = ['scoring_alerts'] -%}
{{ config(order_by=['processing_date', 'alert_id'], post_hook=["{{ build_remaining_date_batches() }}",
                     "{{ drop_stale_mart_partitions(" ~ inputs ~ ", with_labels=true) }}"]) }}
{%- set this_batch = date_batch_filter(stale_mart_dates(inputs, with_labels=true), 'stg_alerts', var('mart_rows_per_query')) %}

{#- The alert-grain training table of alert_scorer and alert_ranker: one row per labelled alert of the window. -#}

-- depends_on: {{ ref('stg_alerts') }}
-- depends_on: {{ ref('stg_ingested_drops') }}

with labels as (
    select * from {{ ref('int_alert_labels') }}
    where {{ this_batch }}
),

scoring_alerts as (
    select * from {{ ref('scoring_alerts') }}
    where {{ this_batch }}
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
    from labels
    inner join scoring_alerts
        on labels.processing_date = scoring_alerts.processing_date
        and labels.alert_id = scoring_alerts.alert_id
)

select final.*, toUInt16({{ label_horizon_days() }}) as label_horizon_days, now64(3) as built_at from final
