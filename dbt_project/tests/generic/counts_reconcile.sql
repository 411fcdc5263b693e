{#- Nothing is lost at load: every row read was loaded, a duplicate, or rejected. -#}
{% test counts_reconcile(model) %}
    select * from {{ model }}
    where rows_read != rows_loaded + rows_duplicate + rows_rejected
{% endtest %}
