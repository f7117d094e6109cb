{{ config(order_by=['processing_date', 'cluster_id']) }}

{#- Every cluster of the window with every feature: what cluster_scorer scores, and the base of training_clusters. -#}

with cluster_profiles as (
    select * from {{ ref('int_cluster_profiles') }}
),

final as (
    select
        '{{ validated_network() }}' as network,
        processing_date,
        cluster_id,
        primary_address as address,
        cluster_profiles.* except (processing_date, cluster_id, primary_address, built_at)
    from cluster_profiles
)

select * from final
