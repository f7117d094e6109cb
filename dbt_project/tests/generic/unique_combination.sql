{#- Fails with one row per key that occurs more than once (e.g. a duplicated alert in a drop, or a join that fanned out). -#}
{% test unique_combination(model, columns) %}
select
    {{ columns | join(', ') }},
    count() as occurrences,
    '({{ columns | join(', ') }}) = ' || toString(tuple({{ columns | join(', ') }})) || ' occurs ' || toString(occurrences)
        || ' times: {{ data_test_remedy(model) }}' as problem
from {{ model }}
group by {{ columns | join(', ') }}
having occurrences > 1
{% endtest %}
