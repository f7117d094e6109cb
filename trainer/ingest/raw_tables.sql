-- Raw tables: the contract with upstream producers. One ClickHouse database per network.
-- Column names, types and sort keys follow the upstream raw schema exactly. Each table is partitioned
-- by drop (processing_date, window_days) so that ingestion can replace one drop atomically.

CREATE TABLE IF NOT EXISTS raw_alerts (
    window_days UInt16,
    processing_date Date,
    alert_id String,
    address String,
    typology_type String,
    pattern_id String,
    pattern_type String,
    severity String,
    suspected_address_type String,
    suspected_address_subtype String,
    alert_confidence_score Float32,
    description String,
    volume_usd Decimal128(18),
    evidence_json String,
    risk_indicators Array(String),
    created_at DateTime
) ENGINE = MergeTree
PARTITION BY (processing_date, window_days)
ORDER BY (window_days, processing_date, alert_id, typology_type);

CREATE TABLE IF NOT EXISTS raw_features (
    window_days UInt16,
    processing_date Date,
    address String,
    degree_in UInt32,
    degree_out UInt32,
    degree_total UInt32,
    unique_counterparties UInt32,
    total_in_usd Decimal128(18),
    total_out_usd Decimal128(18),
    net_flow_usd Decimal128(18),
    total_volume_usd Decimal128(18),
    avg_tx_in_usd Decimal128(18),
    avg_tx_out_usd Decimal128(18),
    median_tx_in_usd Decimal128(18),
    median_tx_out_usd Decimal128(18),
    max_tx_usd Decimal128(18),
    min_tx_usd Decimal128(18),
    amount_variance Float64,
    amount_skewness Float64,
    amount_kurtosis Float64,
    volume_std Float64,
    volume_cv Float64,
    flow_concentration Float64,
    tx_in_count UInt64,
    tx_out_count UInt64,
    tx_total_count UInt64,
    activity_days UInt32,
    activity_span_days UInt32,
    avg_daily_volume_usd Decimal128(18),
    peak_hour UInt8,
    peak_day UInt8,
    regularity_score Float32,
    burst_factor Float32,
    reciprocity_ratio Float32,
    flow_diversity Float32,
    counterparty_concentration Float32,
    concentration_ratio Float32,
    velocity_score Float32,
    structuring_score Float32,
    unique_assets_in UInt32,
    unique_assets_out UInt32,
    dominant_asset_in String,
    dominant_asset_out String,
    asset_diversity_score Float32,
    hourly_activity Array(UInt16),
    daily_activity Array(UInt16),
    peak_activity_hour UInt8,
    peak_activity_day UInt8,
    hourly_entropy Float32,
    daily_entropy Float32,
    weekend_transaction_ratio Float32,
    night_transaction_ratio Float32,
    small_transaction_ratio Float32,
    consistency_score Float32,
    pagerank Float32,
    betweenness Float32,
    closeness Float32,
    clustering_coefficient Float32,
    kcore UInt32,
    community_id UInt32,
    centrality_score Float32,
    khop1_count UInt32,
    khop2_count UInt32,
    khop3_count UInt32,
    khop1_volume_usd Decimal128(18),
    khop2_volume_usd Decimal128(18),
    khop3_volume_usd Decimal128(18),
    flow_reciprocity_entropy Float32,
    counterparty_stability Float32,
    flow_burstiness Float32,
    transaction_regularity Float32,
    amount_predictability Float32,
    behavioral_anomaly_score Float32,
    graph_anomaly_score Float32,
    neighborhood_anomaly_score Float32,
    global_anomaly_score Float32,
    outlier_transactions UInt32,
    suspicious_pattern_score Float32,
    is_exchange_like Bool,
    is_whale Bool,
    is_mixer_like Bool,
    is_contract_like Bool,
    is_new_address Bool,
    is_dormant_reactivated Bool,
    is_high_volume_trader Bool,
    is_hub_address Bool,
    is_retail_active Bool,
    is_whale_inactive Bool,
    is_retail_inactive Bool,
    is_regular_user Bool,
    unique_recipients_count UInt32,
    unique_senders_count UInt32,
    completeness_score Float32,
    quality_score Float32,
    outlier_score Float32,
    confidence_score Float32,
    first_activity_timestamp UInt64,
    last_activity_timestamp UInt64,
    created_at DateTime
) ENGINE = MergeTree
PARTITION BY (processing_date, window_days)
ORDER BY (window_days, processing_date, address);

CREATE TABLE IF NOT EXISTS raw_clusters (
    window_days UInt16,
    processing_date Date,
    cluster_id String,
    cluster_type String,
    primary_address String,
    pattern_id String,
    primary_alert_id String,
    related_alert_ids Array(String),
    addresses_involved Array(String),
    total_alerts UInt32,
    total_volume_usd Decimal128(18),
    severity_max String,
    confidence_avg Float32,
    earliest_alert_timestamp UInt64,
    latest_alert_timestamp UInt64,
    created_at DateTime
) ENGINE = MergeTree
PARTITION BY (processing_date, window_days)
ORDER BY (window_days, processing_date, cluster_type, cluster_id);

CREATE TABLE IF NOT EXISTS raw_money_flows (
    window_days UInt16,
    processing_date Date,
    from_address String,
    to_address String,
    tx_count UInt64,
    amount_sum Decimal128(18),
    amount_usd_sum Decimal128(18),
    first_seen_timestamp UInt64,
    last_seen_timestamp UInt64,
    active_days UInt32,
    avg_tx_size_usd Decimal128(18),
    unique_assets UInt32,
    dominant_asset String,
    hourly_pattern Array(UInt16),
    weekly_pattern Array(UInt16),
    reciprocity_ratio Float32,
    is_bidirectional Bool,
    created_at DateTime
) ENGINE = MergeTree
PARTITION BY (processing_date, window_days)
ORDER BY (window_days, processing_date, from_address, to_address);

CREATE TABLE IF NOT EXISTS raw_address_labels (
    processing_date Date,
    window_days UInt16,
    network String,
    address String,
    label String,
    network_type String,
    address_type String,
    address_subtype String,
    risk_level String,
    confidence_score Float32,
    trust_level String,
    source String
) ENGINE = MergeTree
PARTITION BY (processing_date, window_days)
ORDER BY (processing_date, window_days, network, address, label);

-- The state of each drop: a row with complete = 0 before its partitions are swapped, one with complete = 1 after
-- all five are in. The newest row wins; dbt reads only complete drops, so a drop interrupted half-way through
-- ingestion is never visible to a build.
CREATE TABLE IF NOT EXISTS ingested_drops (
    processing_date Date,
    window_days UInt16,
    complete UInt8,
    source String,
    row_counts_json String,
    ingested_at DateTime64(3, 'UTC')
) ENGINE = ReplacingMergeTree(ingested_at)
ORDER BY (processing_date, window_days);
