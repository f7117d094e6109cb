{#- The label horizon (var label_horizon_days): an alert's label is what was known about its address up to this
    many days after the alert. A whole number of days from 0 (the label known when the alert fired) to 3650. -#}
{% macro label_horizon_days() -%}
    {%- set value = var('label_horizon_days') | string -%}
    {%- if not modules.re.match('^(0|[1-9][0-9]{0,3})$', value) or value | int > 3650 -%}
        {{ exceptions.raise_compiler_error("var 'label_horizon_days' must be a whole number of days from 0 to 3650, got " ~ value | tojson) }}
    {%- endif -%}
    {{- value -}}
{%- endmacro %}
