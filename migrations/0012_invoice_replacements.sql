-- A voided invoice can be replaced: closing its month again makes a new invoice over the same
-- ledger entries. A month has at most one invoice that is not void.

ALTER TABLE invoices DROP CONSTRAINT invoices_tenant_id_period_key;
CREATE UNIQUE INDEX invoices_one_standing_per_month ON invoices (tenant_id, period) WHERE status <> 'void';
