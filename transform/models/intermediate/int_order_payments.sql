with payments as (
    select * from {{ ref('stg_payments') }}
),

payment_methods as (
    select * from {{ ref('payment_methods') }}
),

order_payments as (
    select
        payments.order_id,
        count(*) as payment_count,
        sum(payments.amount) as amount_paid,
        sum(case when payment_methods.is_card then payments.amount else 0 end) as card_amount,
        sum(case when payment_methods.is_prepaid then payments.amount else 0 end) as prepaid_amount,
        string_agg(
            distinct coalesce(payment_methods.display_name, payments.payment_method), ', '
            order by coalesce(payment_methods.display_name, payments.payment_method)
        ) as payment_methods
    from payments
    left join payment_methods
        on payments.payment_method = payment_methods.payment_method
    group by payments.order_id
)

select * from order_payments
