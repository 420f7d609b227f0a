select *
from (
    values
    (1, 'USD', 120.00),
    (2, 'EUR', 80.00),
    (3, 'GBP', 45.50),
    (4, 'EUR', 10.00)
) as invoices (invoice_id, currency, amount)
