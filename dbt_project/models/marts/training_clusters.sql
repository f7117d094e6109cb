{%- set inputs = ['scoring_clusters'] -%}
{{ config(order_by=['processing_date', 'cluster_id'], post_hook=["{{ build_remaining_date_batches() }}",
                     "{{ drop_stale_mart_partitions(" ~ inputs ~ ", with_labels=true) }}"]) }}
{%- set this_batch = date_batch_filter(stale_mart_dates(inputs, with_labels=true), 'stg_clusters', var('mart_rows_per_query')) %}

{#- The cluster-grain training table of cluster_scorer: one row per cluster of the window with a labelled member. -#}

-- depends_on: {{ ref('stg_clusters') }}
-- depends_on: {{ ref('stg_ingested_drops') }}

with labels as (
    select * from {{ ref('int_cluster_labels') }}
    where {{ this_batch }}
),

scoring_clusters as (
    select * from {{ ref('scoring_clusters') }}
    where {{ this_batch }}
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
