{#-
  The window has completely ingested drops, but none of the drop window var window_days selects (upstream sends one
  `<window_days>d` folder per look-back window, and staging keeps only var window_days: macro visible_drops). Every
  model would then be built empty and only the last gate (has_rows) would fail, without saying why. Fails at once
  with one row naming the var and the window_days the window's drops hold. A window without any drop passes: the
  has_rows gates report that.
-#}
{% test has_drops_of_window_days(model) %}
select
    'no drop of the window ' || toString({{ window_start() }}) || '..' || toString({{ window_end() }})
        || ' has var window_days = {{ window_days() }}; its drops hold window_days '
        || arrayStringConcat(arrayMap(x -> toString(x), arraySort(groupUniqArray(window_days))), ', ')
        || ': set var window_days to one of them' as problem
from {{ model }} final
where complete = 1
  and processing_date between {{ window_start() }} and {{ window_end() }}
having countIf(window_days = {{ window_days() }}) = 0 and count() > 0
{% endtest %}
