{{ config(order_by=['processing_date', 'cluster_id'], post_hook="{{ drop_stale_dates(last='least(' ~ window_end() ~ ', ' ~ labels_mature_through() ~ ')') }}", rebuild={'lookback_days': none, 'label_horizon': true}) }}
{#- Labelled rows: a date's rows read every drop up to the date plus the horizon (macro rebuild_dates, as the label
    tables), mature dates only. -#}
{%- set dates_to_build = rebuild_dates() %}

{#- The cluster-grain training table of cluster_scorer: one row per cluster of the window with a labelled member. -#}

-- depends_on: {{ ref('stg_clusters') }}
-- depends_on: {{ ref('stg_ingested_drops') }}

with labels as (
    select * from {{ ref('int_cluster_labels') }}
    where {{ dates_to_build }}
),

scoring_clusters as (
    select * from {{ ref('scoring_clusters') }}
    where {{ dates_to_build }}
),

final as (
    select
        scoring_clusters.network as network,
        labels.processing_date as processing_date,
        labels.cluster_id as cluster_id,
        scoring_clusters.address as address,
        labels.label as label,
        labels.label_weight as label_weight,
        labels.labelled_members as labelled_members,
        scoring_clusters.* except (network, processing_date, cluster_id, address, built_at)
    from labels
    inner join scoring_clusters
        on labels.processing_date = scoring_clusters.processing_date
        and labels.cluster_id = scoring_clusters.cluster_id
)

select final.*, toUInt16({{ label_horizon_days() }}) as label_horizon_days, now64(3) as built_at from final
