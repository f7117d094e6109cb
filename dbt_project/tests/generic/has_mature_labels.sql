{#-
  Labelled rows exist but none is mature: every label horizon (var label_horizon_days) reaches past the newest
  ingested drop, so no label of the window is final yet. Fails with one row saying so.
-#}
{% test has_mature_labels(model) %}
select
    'every labelled row of ' || '{{ model.identifier }}' || ' is immature: the earliest label cutoff, '
        || toString(min(label_cutoff)) || ', lies past the newest ingested drop; lower var label_horizon_days or ingest newer drops' as problem
from {{ model }}
having count() > 0 and countIf(label_is_mature = 1) = 0
{% endtest %}
