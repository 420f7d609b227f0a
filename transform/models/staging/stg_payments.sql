with source as (
    select * from {{ source('shop', 'raw_payments') }}
),

renamed as (
    select
        id::integer as payment_id,
        order_id::integer as order_id,
        lower(payment_method) as payment_method,
        {{ cents_to_dollars('amount_cents') }} as amount
    from source
)

select * from renamed
