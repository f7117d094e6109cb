{{ config(
    partition_by='labelled_on',
    order_by=['address', 'labelled_on'],
    projections=[{'name': 'built_dates', 'query': 'select labelled_on, max(built_at) group by labelled_on'}],
    post_hook=["{{ drop_labels_past_cutoff() }}"]
) }}

{#- Incremental by labelled_on, the date of the drop a label came in: a date's rows read that drop only, so a build
    rewrites the label dates whose drop is new or was ingested again (macro stale_labelled_dates); a daily build, the
    new drop's date. #}
-- depends_on: {{ ref('stg_ingested_drops') }}

with labels as (
    select * from {{ ref('stg_address_labels') }}
    -- Labels up to the last label cutoff of the window (var label_horizon_days past its end).
    where labelled_on <= {{ window_end() }} + {{ label_horizon_days() }}
      and {{ stale_labelled_dates() }}
),

daily as (
    -- One label per address and date. When sources disagree the most confident wins; ties go to the
    -- higher risk level so the choice never depends on row order.
    select
        address,
        labelled_on,
        argMax(risk_level, (label_confidence, risk_level)) as chosen_risk_level,
        max(label_confidence) as chosen_confidence
    from labels
    group by address, labelled_on
),

final as (
    select
        address,
        labelled_on,
        chosen_risk_level as risk_level,
        chosen_confidence as label_confidence,
        toUInt8(chosen_risk_level in ('high', 'critical')) as is_high_risk
    from daily
)

select final.*, now64(3) as built_at from final
