{#- Fails when the model is empty: nothing to train on in this window. The earlier gates name most causes (no drop
    of var window_days, no mature label); this one says what widens the window. -#}
{% test has_rows(model) %}
select
    'no rows in ' || '{{ model.identifier }}' || ' for the window ' || toString({{ window_start() }}) || '..'
        || toString({{ window_end() }}) || ': widen it (vars start, end) or ingest its drops (python -m trainer.ingest)' as problem
where (select count() from {{ model }}) = 0
{% endtest %}
