{%- set inputs = ['int_cluster_profiles'] -%}
{{ config(order_by=['processing_date', 'cluster_id'], post_hook=["{{ build_remaining_date_batches() }}",
                     "{{ drop_stale_mart_partitions(" ~ inputs ~ ") }}"]) }}
{%- set this_batch = date_batch_filter(stale_mart_dates(inputs), 'stg_clusters', var('mart_rows_per_query')) %}

{#- Every cluster of the window with every feature: what cluster_scorer scores, and the base of training_clusters. -#}

-- depends_on: {{ ref('stg_ingested_drops') }}
-- depends_on: {{ ref('stg_clusters') }}

with cluster_profiles as (
    select * from {{ ref('int_cluster_profiles') }}
    where processing_date between {{ window_start() }} and {{ window_end() }}
      and {{ this_batch }}
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
