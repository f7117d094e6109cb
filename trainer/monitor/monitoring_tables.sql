-- Monitoring tables, in the network's database beside the scores.

-- Population stability per feature (and for the score, feature '(score)') of each scoring batch, with the shares per
-- bin, the p-value of the shift (trainer/monitor/drift.py) and, for a feature whose drift is expected by design (level
-- 'expected'), the reason its yml gives. Partitioned like the scores: re-scoring a date with the same model replaces
-- its rows in one step.
CREATE TABLE IF NOT EXISTS feature_drift (
    processing_date Date,
    model_version String,
    model_type LowCardinality(String),
    feature String,
    family LowCardinality(String),
    rows UInt64,
    psi Float64,
    level LowCardinality(String),
    bin_labels Array(String),
    expected_shares Array(Float64),
    actual_shares Array(Float64),
    computed_at DateTime,
    p_value Float64,
    reason String
) ENGINE = MergeTree
PARTITION BY (processing_date, model_version)
ORDER BY (processing_date, model_version, feature);

-- Tables made before p_value and reason existed.
ALTER TABLE feature_drift ADD COLUMN IF NOT EXISTS p_value Float64;
ALTER TABLE feature_drift ADD COLUMN IF NOT EXISTS reason String;

-- Realized performance of past scores once their labels are known, per scoring date and model; a backtest run
-- replaces the rows of the dates it evaluates.
CREATE TABLE IF NOT EXISTS backtest_results (
    processing_date Date,
    model_version String,
    model_type LowCardinality(String),
    scored UInt64,
    labelled UInt64,
    positives UInt64,
    auc Nullable(Float64),
    review_capacity UInt32,
    precision_at_capacity Float64,
    recall_at_capacity Nullable(Float64),
    autoclose_threshold Nullable(Float64),
    positives_below_threshold Nullable(Float64),
    evaluated_at DateTime
) ENGINE = ReplacingMergeTree(evaluated_at)
ORDER BY (model_version, processing_date);
