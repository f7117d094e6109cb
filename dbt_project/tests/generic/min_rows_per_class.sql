{#-
  Both label classes are present with at least `min_per_class` rows each (var min_per_class): a one-class or nearly
  one-class window cannot produce a model. Fails with one row per short class, giving its count and what to change.
-#}
{% test min_rows_per_class(model, column_name, min_per_class) %}
with classes as (
    select toUInt8(0) as label_class
    union all
    select toUInt8(1) as label_class
),

counts as (
    select toUInt8({{ column_name }}) as label_class, count() as rows_in_class
    from {{ model }}
    group by label_class
),

final as (
    select
        classes.label_class as label_class,
        ifNull(counts.rows_in_class, 0) as rows_in_class,
        toUInt64({{ min_per_class }}) as required_rows
    from classes
    left join counts on classes.label_class = counts.label_class
    where ifNull(counts.rows_in_class, 0) < required_rows
    settings join_use_nulls = 1
)

select
    final.*,
    'label ' || toString(label_class) || ' has ' || toString(rows_in_class) || ' rows in {{ model.identifier }}, var min_per_class asks for '
        || toString(required_rows) || ': widen the window (vars start, end) or lower var min_per_class' as problem
from final
{% endtest %}
