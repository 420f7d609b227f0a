-- Every order is paid in full: the payments of an order add up to the price of its items.
select
    order_id,
    order_total,
    amount_paid
from {{ ref('orders') }}
where order_total <> amount_paid
