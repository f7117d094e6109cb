{#-
  Open-vocabulary check, meant for severity warn: returns one row per value of `column_name` (in lower case, as
  the features compare it) that the vocabulary var `vocabulary` does not list, with its row count, and logs them. Such values build and score (the feature
  families count them in `<prefix>_other`); the warning says which values a user may want to add to the var.
-#}
{% test values_in_vocabulary(model, column_name, vocabulary) %}
{%- set unknown_sql -%}
select lower({{ column_name }}) as unknown_value, count() as rows_with_value
from {{ model }}
where lower({{ column_name }}) not in {{ vocabulary_tuple(vocabulary) }}
group by unknown_value
order by rows_with_value desc, unknown_value
{%- endset -%}
{%- if execute -%}
    {%- set found = run_query(unknown_sql ~ " limit 10") -%}
    {%- if found.rows | length > 0 -%}
        {%- set listed = [] -%}
        {%- for row in found.rows -%}
            {%- do listed.append(row[0] | tojson ~ " (" ~ row[1] ~ " rows)") -%}
        {%- endfor -%}
        {{ log("values of " ~ column_name ~ " outside var '" ~ vocabulary ~ "' (counted as other): " ~ listed | join(", "), info=True) }}
    {%- endif -%}
{%- endif %}
{{ unknown_sql }}
{% endtest %}
