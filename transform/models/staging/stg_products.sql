with source as (
    select * from {{ source('shop', 'raw_products') }}
),

renamed as (
    select
        id::integer as product_id,
        name as product_name,
        lower(category) as category,
        {{ cents_to_dollars('price_cents') }} as unit_price
    from source
)

select * from renamed
