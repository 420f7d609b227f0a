with source as (
    select * from {{ source('shop', 'raw_orders') }}
),

renamed as (
    select
        id::integer as order_id,
        customer_id::integer as customer_id,
        ordered_on::date as ordered_on,
        lower(status) as status
    from source
)

select * from renamed
