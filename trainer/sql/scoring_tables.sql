-- Where scores go, in the network's database. Scores are partitioned by (processing_date, model_version) so a
-- re-run replaces its own partition in one step and a failed run leaves the previous scores untouched.

CREATE TABLE IF NOT EXISTS alert_scores (
    processing_date Date,
    alert_id String,
    score Float64,
    model_version String,
    explain_json String,
    created_at DateTime
) ENGINE = MergeTree
PARTITION BY (processing_date, model_version)
ORDER BY (processing_date, alert_id);

CREATE TABLE IF NOT EXISTS alert_rankings (
    processing_date Date,
    alert_id String,
    rank Int32,
    model_version String,
    created_at DateTime
) ENGINE = MergeTree
PARTITION BY (processing_date, model_version)
ORDER BY (processing_date, rank);

CREATE TABLE IF NOT EXISTS cluster_scores (
    processing_date Date,
    cluster_id String,
    score Float64,
    model_version String,
    created_at DateTime
) ENGINE = MergeTree
PARTITION BY (processing_date, model_version)
ORDER BY (processing_date, cluster_id);

-- One row per state of a scoring batch: PROCESSING, then COMPLETED or FAILED (the newest row wins).
CREATE TABLE IF NOT EXISTS batch_metadata (
    batch_id String,
    processing_date Date,
    model_type LowCardinality(String),
    model_version String,
    status LowCardinality(String),
    error_message String,
    input_rows UInt64,
    output_rows UInt64,
    latency_ms_json String,
    updated_at DateTime64(3, 'UTC')
) ENGINE = ReplacingMergeTree(updated_at)
ORDER BY batch_id;
