{#- Every call names somebody: a user id or an anonymous id. -#}
{% test has_identity(model) %}
    select * from {{ model }}
    where user_id is null and anonymous_id is null
{% endtest %}
