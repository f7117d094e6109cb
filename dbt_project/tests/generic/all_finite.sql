{#- Fails for every row where one of `columns` is NULL, NaN or infinite. -#}
{% test all_finite(model, columns) %}
select
    *,
    'one of {{ columns | join(', ') }} is NULL, NaN or infinite: {{ data_test_remedy(model) }}' as problem
from {{ model }}
where
    {% for column in columns -%}
    not isFinite(ifNull(toFloat64({{ column }}), nan)){{ ' or' if not loop.last }}
    {% endfor %}
{% endtest %}
