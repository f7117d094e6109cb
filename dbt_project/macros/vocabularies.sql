{#- Open vocabularies (typology_type, suspected_address_type, cluster_type): the families one-hot encode the values a
    var lists; any other value lands in `<prefix>_other`, which a warn-severity source test counts. Closed ones that
    the upstream contract fixes (severity, risk_level) stay strict accepted_values tests. -#}

{#- The values of vocabulary var `name`, validated: each becomes part of a column name and a SQL literal. -#}
{% macro vocabulary(name) -%}
    {%- set values = var(name) -%}
    {%- if values is string or values is not iterable or values | length == 0 -%}
        {{ exceptions.raise_compiler_error("var '" ~ name ~ "' must be a non-empty list of values, got " ~ values | tojson) }}
    {%- endif -%}
    {%- for value in values -%}
        {%- if not modules.re.match('^[a-z0-9][a-z0-9_]{0,39}$', value | string) or value == 'other' -%}
            {{ exceptions.raise_compiler_error("var '" ~ name ~ "': " ~ value | tojson ~ " is not a usable value (lowercase letters, digits and _, at most 40, not 'other')") }}
        {%- endif -%}
    {%- endfor -%}
    {%- if values | unique | list | length != values | length -%}
        {{ exceptions.raise_compiler_error("var '" ~ name ~ "' lists a value twice: " ~ values | tojson) }}
    {%- endif -%}
    {{- return(values | map('string') | list) -}}
{%- endmacro %}

{#- The SQL tuple literal of a vocabulary, e.g. ('fan_in', 'fan_out'). -#}
{% macro vocabulary_tuple(name) -%}
    ({%- for value in vocabulary(name) -%}'{{ value }}'{{ ', ' if not loop.last }}{%- endfor -%})
{%- endmacro %}

{#- One 0/1 column per listed value (`<prefix>_<value>`), then `<prefix>_other` for every value not listed.
    Values are compared in lower case: upstream writes some vocabularies in upper case (PEEL_CHAIN). -#}
{% macro one_hot(column, vocabulary_name, prefix) -%}
    {%- for value in vocabulary(vocabulary_name) %}
        toFloat64(lower({{ column }}) = '{{ value }}') as {{ prefix }}_{{ value }},
    {%- endfor %}
        toFloat64(lower({{ column }}) not in {{ vocabulary_tuple(vocabulary_name) }}) as {{ prefix }}_other
{%- endmacro %}
