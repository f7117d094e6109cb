{#- The feature columns of `relation` (all but its keys and built_at), Float64 ones as Float32: what the trainer and the
    scorer read (trainer/evaluation/extract.py), at half the bytes to join and write. Unquoted, as the families name them. -#}
{% macro float32_features(relation) -%}
    {%- set keys = ['processing_date', 'alert_id', 'built_at'] -%}
    {%- set columns = adapter.get_columns_in_relation(relation) | rejectattr('name', 'in', keys) | list if execute else [] -%}
    {%- for column in columns -%}
        {{ 'toFloat32(' ~ column.name ~ ') as ' if column.dtype == 'Float64' }}{{ column.name }}{{ ', ' if not loop.last }}
    {%- endfor -%}
    {{- '* except (' ~ keys | join(', ') ~ ')' if not columns -}}
{%- endmacro %}
