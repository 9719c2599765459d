-- Invoices: one per tenant and calendar month (UTC), made from the ledger when the month is
-- closed. The ledger stays append-only: an invoice records when it was closed, and takes the
-- entries recorded by then; entries of earlier months recorded after their invoice was closed
-- go on the next invoice as adjustment lines.

CREATE SEQUENCE invoice_numbers;
GRANT USAGE ON SEQUENCE invoice_numbers TO switchyard_app;

CREATE TABLE invoices (
    tenant_id uuid NOT NULL REFERENCES tenants (tenant_id),
    id uuid NOT NULL,
    -- Stable once given, e.g. SY-202611-000042.
    number text NOT NULL UNIQUE,
    period text NOT NULL CHECK (period ~ '^[0-9]{4}-[0-9]{2}$'),
    status text NOT NULL CHECK (status IN ('draft', 'issued', 'paid', 'void')),
    closed_at timestamptz NOT NULL,
    subtotal_micros bigint NOT NULL CHECK (subtotal_micros >= 0),
    total_micros bigint NOT NULL CHECK (total_micros >= 0),
    issued_at timestamptz,
    paid_at timestamptz,
    voided_at timestamptz,
    payment_reference text CHECK (length(payment_reference) <= 200),
    PRIMARY KEY (tenant_id, id),
    UNIQUE (tenant_id, period)
);

CREATE TABLE invoice_lines (
    tenant_id uuid NOT NULL,
    invoice_id uuid NOT NULL,
    line integer NOT NULL CHECK (line > 0),
    -- usage: the month's calls of a model; adjustment: an earlier month's, recorded late.
    kind text NOT NULL CHECK (kind IN ('usage', 'adjustment')),
    period text NOT NULL,
    model text NOT NULL,
    requests bigint NOT NULL,
    prompt_tokens bigint NOT NULL,
    completion_tokens bigint NOT NULL,
    amount_micros bigint NOT NULL CHECK (amount_micros >= 0),
    PRIMARY KEY (tenant_id, invoice_id, line),
    FOREIGN KEY (tenant_id, invoice_id) REFERENCES invoices (tenant_id, id)
);

SELECT enable_tenant_isolation('invoices');
SELECT enable_tenant_isolation('invoice_lines');

GRANT SELECT, INSERT, UPDATE ON invoices TO switchyard_app;
GRANT SELECT, INSERT ON invoice_lines TO switchyard_app;
