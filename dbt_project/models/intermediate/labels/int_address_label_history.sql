{{ config(
    partition_by='labelled_on',
    order_by=['address', 'labelled_on'],
    projections=[{'name': 'built_dates', 'query': 'select labelled_on, max(built_at) group by labelled_on'}],
    post_hook="{{ drop_stale_dates(first='toDate(0)', last=window_end() ~ ' + ' ~ label_horizon_days()) }}",
    rebuild={'column': 'labelled_on'}
) }}

{#- Incremental by labelled_on, the date of the drop a label came in: a date's rows read that drop only, so a build
    rewrites the label dates whose drop is new or was ingested again (macro rebuild_dates); a daily build, the new
    drop's date. Labels come up to the window's last label cutoff; the post-hook drops those past it. #}
{%- set label_cutoff = window_end() ~ ' + ' ~ label_horizon_days() %}
-- depends_on: {{ ref('stg_ingested_drops') }}

with labels as (
    select * from {{ ref('stg_address_labels') }}
    -- Labels up to the last label cutoff of the window (var label_horizon_days past its end).
    where labelled_on <= {{ label_cutoff }}
      and {{ rebuild_dates(first='toDate(0)', last=label_cutoff) }}
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
