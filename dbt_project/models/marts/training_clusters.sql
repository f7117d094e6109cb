{{ config(order_by=['processing_date', 'cluster_id']) }}

{#- The cluster-grain training table of cluster_scorer: one row per cluster of the window with a labelled member. -#}

with labels as (
    select * from {{ ref('int_cluster_labels') }}
),

cluster_profiles as (
    select * from {{ ref('int_cluster_profiles') }}
),

final as (
    select
        '{{ validated_network() }}' as network,
        labels.processing_date as processing_date,
        labels.cluster_id as cluster_id,
        cluster_profiles.primary_address as address,
        labels.label as label,
        labels.label_weight as label_weight,
        labels.labelled_members as labelled_members,
        cluster_profiles.* except (processing_date, cluster_id, primary_address)
    from labels
    inner join cluster_profiles
        on labels.processing_date = cluster_profiles.processing_date
        and labels.cluster_id = cluster_profiles.cluster_id
)

select * from final
