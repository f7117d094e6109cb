{#-
  The window has drops but no mature date: every label horizon (var label_horizon_days) reaches past the newest
  ingested drop, so no label of the window is final yet and the label table (`model`, which holds mature dates only,
  macro labels_mature_through) stays empty. Fails with one row saying so.
-#}
{% test has_mature_labels(model) %}
select
    'no label of ' || '{{ model.identifier }}' || ' is mature: the earliest label cutoff, '
        || toString(window_drops.first_date + {{ label_horizon_days() }}) || ', lies past the newest ingested drop, '
        || toString(all_drops.newest_date) || '; lower var label_horizon_days or ingest newer drops' as problem
from (
    select min(processing_date) as first_date, count() as drops
    from {{ ref('stg_ingested_drops') }}
    where processing_date between {{ window_start() }} and {{ window_end() }}
) as window_drops
cross join (
    select max(processing_date) as newest_date
    from {{ ref('stg_ingested_drops') }}
) as all_drops
where window_drops.drops > 0
  and window_drops.first_date + {{ label_horizon_days() }} > all_drops.newest_date
{% endtest %}
