{{ config(order_by=['processing_date', 'cluster_id'], post_hook="{{ drop_stale_dates() }}", rebuild={'lookback_days': 0}) }}
{#- The dates whose drops changed (macro rebuild_dates): a cluster profile reads its own drop. -#}
{%- set dates_to_build = rebuild_dates() %}

{#- Every cluster of the window with every feature: what cluster_scorer scores, and the base of training_clusters. -#}

-- depends_on: {{ ref('stg_ingested_drops') }}
-- depends_on: {{ ref('stg_clusters') }}

with cluster_profiles as (
    select * from {{ ref('int_cluster_profiles') }}
    where processing_date between {{ window_start() }} and {{ window_end() }}
      and {{ dates_to_build }}
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

select final.*, now64(3) as built_at from final
