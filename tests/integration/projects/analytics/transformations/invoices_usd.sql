select
    invoices.invoice_id,
    invoices.currency,
    invoices.amount * fx_rates.usd_per_unit as amount_usd
from {{ ref('invoices') }} as invoices
inner join {{ ref('fx_rates') }} as fx_rates
    on invoices.currency = fx_rates.currency
