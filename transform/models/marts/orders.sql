with orders as (
    select * from {{ ref('stg_orders') }}
),

order_items as (
    select * from {{ ref('int_order_items_priced') }}
),

order_payments as (
    select * from {{ ref('int_order_payments') }}
),

order_totals as (
    select
        order_id,
        count(*) as line_count,
        sum(quantity) as unit_count,
        sum(line_amount) as order_total
    from order_items
    group by order_id
),

final as (
    select
        orders.order_id,
        orders.customer_id,
        orders.ordered_on,
        orders.status,
        row_number() over (
            partition by orders.customer_id
            order by orders.ordered_on, orders.order_id
        ) as customer_order_number,
        coalesce(order_totals.line_count, 0) as line_count,
        coalesce(order_totals.unit_count, 0) as unit_count,
        coalesce(order_totals.order_total, 0) as order_total,
        coalesce(order_payments.amount_paid, 0) as amount_paid,
        coalesce(order_payments.card_amount, 0) as card_amount,
        coalesce(order_payments.prepaid_amount, 0) as prepaid_amount,
        order_payments.payment_methods
    from orders
    left join order_totals
        on orders.order_id = order_totals.order_id
    left join order_payments
        on orders.order_id = order_payments.order_id
)

select * from final
