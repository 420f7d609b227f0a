with source as (
    select * from {{ source('shop', 'raw_order_items') }}
),

renamed as (
    select
        id::integer as order_item_id,
        order_id::integer as order_id,
        product_id::integer as product_id,
        quantity::integer as quantity
    from source
)

select * from renamed
