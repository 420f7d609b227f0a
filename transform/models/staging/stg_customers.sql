with source as (
    select * from {{ source('shop', 'raw_customers') }}
),

renamed as (
    select
        id::integer as customer_id,
        first_name,
        last_name,
        lower(email) as email,
        signed_up_on::date as signed_up_on,
        upper(country_code) as country_code
    from source
)

select * from renamed
