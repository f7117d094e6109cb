{{ config(order_by=['processing_date', 'alert_id'], post_hook="{{ drop_stale_dates() }}", rebuild={'lookback_days': 0}) }}
{#- The dates whose drops changed (macro rebuild_dates); a date's rows read its own drop. -#}
{%- set dates_to_build = rebuild_dates() %}

-- depends_on: {{ ref('stg_ingested_drops') }}

{#- Every upstream address feature (macro address_feature_columns: the numeric columns of raw_features less
    var address_feature_exclude). -1 marks "no usable upstream value"; has_address_features and
    address_non_finite_values tell a missing record and an undefined value (NaN, infinity) apart from it. -#}
{%- set address_columns = address_feature_columns() %}

with alerts as (
    select processing_date, alert_id, address
    from {{ ref('stg_alerts') }}
    where processing_date between {{ window_start() }} and {{ window_end() }}
      and {{ dates_to_build }}
),

address_features as (
    -- Only the dates being rebuilt: the join is within one processing date.
    select * from {{ ref('stg_features') }}
    where processing_date between {{ window_start() }} and {{ window_end() }}
      and {{ dates_to_build }}
),

joined as (
    -- The features upstream computed for the alert's address in the same drop (same processing date). ClickHouse
    -- holds a join's right side in memory: the alerts (three columns) are, not the upstream features (about 100
    -- columns a row), so the right join keeps every alert; at 10M alerts it ran 4.7x faster than the left join.
    select
        alerts.processing_date as processing_date,
        alerts.alert_id as alert_id,
        address_features.address != '' as has_record,
        {% for column in address_columns -%}
        address_features.{{ column }} as upstream_{{ column }},
        {% endfor -%}
        1 as joined_marker
    from address_features
    right join alerts
        on alerts.address = address_features.address
        and alerts.processing_date = address_features.processing_date
),

final as (
    -- Missing records and undefined values are not zero-filled: they carry -1, flagged by the two columns
    -- below; the training table's coverage test fails the build when too many records are missing.
    select
        processing_date,
        alert_id,
        toFloat64(has_record) as has_address_features,
        toFloat64(has_record * (0
            {%- for column in address_columns %} + toUInt8(not isFinite(upstream_{{ column }})){% endfor %})) as address_non_finite_values,
        {% for column in address_columns -%}
        if(has_record and isFinite(upstream_{{ column }}), upstream_{{ column }}, -1.0) as {{ column }},
        {% endfor -%}
        now64(3) as built_at
    from joined
)

select * from final
