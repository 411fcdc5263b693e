{#- The journey actions due now for one destination, with the customer's addresses: the
    body of every message sync model (models/syncs/messages_to_*.sql). `extra_columns`
    are (name, SQL expression) pairs a destination needs besides the common ones. -#}
{% macro journey_messages_for(destination, extra_columns=[]) %}
with due as (
    select * from {{ ref('journey_actions_due') }}
    where destination = '{{ destination }}'
),

customers as (
    select * from {{ ref('dim_customers') }}
),

final as (
    select
        due.action_id,
        due.journey,
        due.step_id,
        due.customer_id,
        due.channel,
        due.destination,
        due.template,
        due.offer,
        due.context,
        due.decided_at,
        customers.email,
        customers.phone,
        due.customer_id as external_id,
        {%- for name, expression in extra_columns %}
        {{ expression }} as {{ name }},
        {%- endfor %}
        due.scheduled_at
    from due
    left join customers on customers.customer_id = due.customer_id
)

select * from final
{% endmacro %}
