select count(*) as invoices
from {{ ref('invoices') }}
