with orders as (
    select * from {{ ref('stg_orders') }}
),

order_payments as (
    select * from {{ ref('int_order_payments') }}
),

date_bounds as (
    select
        min(ordered_on) as first_day,
        max(ordered_on) as last_day
    from orders
),

calendar as (
    select calendar_days.calendar_day::date as revenue_date
    from date_bounds
    cross join
        generate_series(
            date_bounds.first_day, date_bounds.last_day, interval '1 day'
        ) as calendar_days (calendar_day)
),

daily as (
    select
        orders.ordered_on as revenue_date,
        count(*) as order_count,
        count(distinct orders.customer_id) as customer_count,
        sum(order_payments.amount_paid) as revenue
    from orders
    inner join order_payments
        on orders.order_id = order_payments.order_id
    where orders.status <> 'returned'
    group by orders.ordered_on
),

final as (
    select
        calendar.revenue_date,
        coalesce(daily.order_count, 0) as order_count,
        coalesce(daily.customer_count, 0) as customer_count,
        coalesce(daily.revenue, 0) as revenue,
        (daily.revenue / daily.order_count)::decimal(16, 2) as average_order_value
    from calendar
    left join daily
        on calendar.revenue_date = daily.revenue_date
)

select * from final
