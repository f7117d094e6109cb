{{ config(order_by=['processing_date', 'cluster_id'], post_hook="{{ drop_stale_dates(last='least(' ~ window_end() ~ ', ' ~ labels_mature_through() ~ ')') }}", rebuild={'lookback_days': none, 'label_horizon': true}) }}
{#- A date's labels read every drop up to the date plus the horizon, under var label_horizon_days: a build rewrites
    the dates whose drops of that span changed or that were labelled under another horizon (macro rebuild_dates), and
    drops the dates that are not mature (any more). -#}
{%- set dates_to_build = rebuild_dates() %}

{#- The same outcome rule as alerts: member labels known at or before processing_date + var label_horizon_days, on
    mature dates only. -#}

with clusters as (
    select processing_date, cluster_id, member_addresses, processing_date + {{ label_horizon_days() }} as label_cutoff
    from {{ ref('stg_clusters') }}
    where processing_date between {{ window_start() }} and {{ window_end() }}
      and processing_date <= {{ labels_mature_through() }}
      and {{ dates_to_build }}
),

label_history as (
    -- Only the addresses of the clusters being built: a daily build reads the history of the horizon's addresses.
    select * from {{ ref('int_address_label_history') }}
    where address in (select arrayJoin(member_addresses) from clusters)
),

cluster_members as (
    select processing_date, cluster_id, label_cutoff, member_address as address
    from clusters
    array join member_addresses as member_address
),

labelled_members as (
    -- Each member's latest label known at or before the cluster's label cutoff; unlabelled members drop out.
    select
        cluster_members.processing_date as processing_date,
        cluster_members.cluster_id as cluster_id,
        cluster_members.label_cutoff as label_cutoff,
        label_history.is_high_risk as is_high_risk,
        label_history.label_confidence as label_confidence,
        label_history.risk_level as risk_level
    from cluster_members
    asof inner join label_history
        on cluster_members.address = label_history.address
        and cluster_members.label_cutoff >= label_history.labelled_on
),

final as (
    -- Positive when any labelled member is high risk; clusters with no labelled member are no training rows.
    select
        processing_date,
        cluster_id,
        toUInt8(max(is_high_risk)) as label,
        toFloat32(if(max(is_high_risk) = 1, maxIf(label_confidence, is_high_risk = 1), max(label_confidence))) as label_weight,
        toUInt32(count()) as labelled_members,
        label_cutoff
    from labelled_members
    group by processing_date, cluster_id, label_cutoff
)

select final.*, toUInt16({{ label_horizon_days() }}) as label_horizon_days, now64(3) as built_at from final
