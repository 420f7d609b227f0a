with customers as (
    select * from {{ ref('stg_customers') }}
),

orders as (
    select * from {{ ref('stg_orders') }}
),

order_payments as (
    select * from {{ ref('int_order_payments') }}
),

customer_orders as (
    select
        orders.customer_id,
        min(orders.ordered_on) as first_order_on,
        max(orders.ordered_on) as most_recent_order_on,
        count(*) as order_count,
        sum(
            case when orders.status <> 'returned' then order_payments.amount_paid else 0 end
        ) as lifetime_value
    from orders
    left join order_payments
        on orders.order_id = order_payments.order_id
    group by orders.customer_id
),

final as (
    select
        customers.customer_id,
        customers.first_name,
        customers.last_name,
        customers.email,
        customers.country_code,
        customers.signed_up_on,
        customer_orders.first_order_on,
        customer_orders.most_recent_order_on,
        coalesce(customer_orders.order_count, 0) as order_count,
        coalesce(customer_orders.lifetime_value, 0) as lifetime_value,
        coalesce(customer_orders.order_count, 0) > 1 as is_repeat_customer
    from customers
    left join customer_orders
        on customers.customer_id = customer_orders.customer_id
)

select * from final
