select
    currency,
    count(*) as invoices,
    sum(amount_usd) as revenue_usd
from {{ ref('invoices_usd') }}
group by currency
