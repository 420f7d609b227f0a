with products as (
    select * from {{ ref('stg_products') }}
),

orders as (
    select * from {{ ref('stg_orders') }}
),

order_items as (
    select * from {{ ref('int_order_items_priced') }}
),

sales as (
    select
        order_items.product_id,
        count(distinct order_items.order_id) as order_count,
        sum(order_items.quantity) as units_sold,
        sum(order_items.line_amount) as revenue,
        min(orders.ordered_on) as first_sold_on,
        max(orders.ordered_on) as last_sold_on
    from order_items
    inner join orders
        on order_items.order_id = orders.order_id
    where orders.status <> 'returned'
    group by order_items.product_id
),

final as (
    select
        products.product_id,
        products.product_name,
        products.category,
        products.unit_price,
        coalesce(sales.order_count, 0) as order_count,
        coalesce(sales.units_sold, 0) as units_sold,
        coalesce(sales.revenue, 0) as revenue,
        sales.first_sold_on,
        sales.last_sold_on
    from products
    left join sales
        on products.product_id = sales.product_id
)

select * from final
