{#- The upstream address features the feature families read, as Float64. -#}
with source as (
    select * from {{ source('raw', 'raw_features') }}
),

renamed as (
    select
        processing_date,
        address,
        toFloat64(degree_in) as degree_in,
        toFloat64(degree_out) as degree_out,
        toFloat64(unique_counterparties) as unique_counterparties,
        toFloat64(total_in_usd) as total_in_usd,
        toFloat64(total_out_usd) as total_out_usd,
        toFloat64(total_volume_usd) as total_volume_usd,
        toFloat64(max_tx_usd) as max_tx_usd,
        toFloat64(tx_total_count) as tx_total_count,
        toFloat64(activity_days) as activity_days,
        toFloat64(volume_cv) as volume_cv,
        toFloat64(flow_concentration) as flow_concentration,
        toFloat64(regularity_score) as regularity_score,
        toFloat64(burst_factor) as burst_factor,
        toFloat64(reciprocity_ratio) as reciprocity_ratio,
        toFloat64(counterparty_concentration) as counterparty_concentration,
        toFloat64(velocity_score) as velocity_score,
        toFloat64(structuring_score) as structuring_score,
        toFloat64(night_transaction_ratio) as night_transaction_ratio,
        toFloat64(weekend_transaction_ratio) as weekend_transaction_ratio,
        toFloat64(small_transaction_ratio) as small_transaction_ratio,
        toFloat64(pagerank) as pagerank,
        toFloat64(betweenness) as betweenness,
        toFloat64(clustering_coefficient) as clustering_coefficient,
        toFloat64(khop2_count) as khop2_count,
        toFloat64(behavioral_anomaly_score) as behavioral_anomaly_score,
        toFloat64(graph_anomaly_score) as graph_anomaly_score,
        toFloat64(neighborhood_anomaly_score) as neighborhood_anomaly_score,
        toFloat64(global_anomaly_score) as global_anomaly_score,
        toFloat64(suspicious_pattern_score) as suspicious_pattern_score,
        toFloat64(completeness_score) as completeness_score,
        toFloat64(is_mixer_like) as is_mixer_like,
        toFloat64(is_exchange_like) as is_exchange_like,
        toFloat64(is_new_address) as is_new_address,
        toFloat64(is_dormant_reactivated) as is_dormant_reactivated
    from source
    where window_days = {{ window_days() }}
      and (processing_date, window_days) in (select processing_date, window_days from {{ source('raw', 'ingested_drops') }})
)

select * from renamed
