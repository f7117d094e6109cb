{{ config(order_by=['processing_date', 'cluster_id']) }}

{#- The cluster-grain training table of cluster_scorer: one row per cluster of the window with a labelled member. -#}

with labels as (
    -- Mature labels only: a label whose horizon reaches past the newest drop may still change.
    select * from {{ ref('int_cluster_labels') }}
    where label_is_mature = 1
),

scoring_clusters as (
    select * from {{ ref('scoring_clusters') }}
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
        scoring_clusters.* except (network, processing_date, cluster_id, address)
    from labels
    inner join scoring_clusters
        on labels.processing_date = scoring_clusters.processing_date
        and labels.cluster_id = scoring_clusters.cluster_id
)

select * from final
