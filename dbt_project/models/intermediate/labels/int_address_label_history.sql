{{ config(materialized='table', partition_by=none, order_by=['address', 'labelled_on'], projections=[]) }}

with labels as (
    select * from {{ ref('stg_address_labels') }}
    -- Labels up to the last label cutoff of the window (var label_horizon_days past its end).
    where labelled_on <= {{ window_end() }} + {{ label_horizon_days() }}
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

select * from final
