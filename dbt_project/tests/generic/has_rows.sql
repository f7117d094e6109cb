{#- Fails when the model is empty: nothing to train on in this window. -#}
{% test has_rows(model) %}
select 'no rows in ' || '{{ model.identifier }}' || ' for the window' as problem
where (select count() from {{ model }}) = 0
{% endtest %}
