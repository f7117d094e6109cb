{#- Fails for every row whose value is NULL or an empty (or blank) string. -#}
{% test not_empty_string(model, column_name) %}
select {{ column_name }}, '{{ column_name }} is NULL or empty: {{ data_test_remedy(model) }}' as problem
from {{ model }}
where {{ column_name }} is null or trimBoth(toString({{ column_name }})) = ''
{% endtest %}
