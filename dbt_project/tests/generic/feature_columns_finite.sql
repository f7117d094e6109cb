{#-
  Every column the model's yml marks as a feature (`meta: {feature: true}`) holds a finite number on every row:
  no NULL, NaN or infinite value reaches the trainer. Fails with one row per bad row, naming the first bad column.
-#}
{% test feature_columns_finite(model) %}
{%- set features = [] -%}
{%- for node in (graph.nodes.values() if execute else []) if node.resource_type == 'model' and node.name == model.identifier -%}
    {%- for column in node.columns.values() if column.meta.get('feature') -%}
        {%- do features.append(column.name) -%}
    {%- endfor -%}
{%- endfor -%}
{%- if execute and features | length == 0 -%}
    {{ exceptions.raise_compiler_error("model " ~ model.identifier ~ " declares no feature columns (meta: {feature: true})") }}
{%- endif %}
select *
from (
    select
        multiIf(
            {% for column in features -%}
            not isFinite(ifNull(toFloat64({{ column }}), nan)), '{{ column }}',
            {% endfor -%}
            ''
        ) as first_non_finite_feature
    from {{ model }}
)
where first_non_finite_feature != ''
{% endtest %}
