-- One row per state of a scoring batch: PROCESSING, then COMPLETED or FAILED (the newest row wins). drift_status says
-- whether the batch's monitoring was written (written, failed with drift_error, skipped for a model without training
-- distributions, off when scoring was asked not to), so a COMPLETED batch whose drift is missing says so.
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
    drift_status LowCardinality(String),
    drift_error String,
    updated_at DateTime64(3, 'UTC')
) ENGINE = ReplacingMergeTree(updated_at)
ORDER BY batch_id;
