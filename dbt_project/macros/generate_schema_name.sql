{#- Every model lives in the network's own database (one ClickHouse database per network, as upstream keeps it). -#}
{% macro generate_schema_name(custom_schema_name, node) -%}
    {{ validated_network() }}
{%- endmacro %}
