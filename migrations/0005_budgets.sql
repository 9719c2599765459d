-- Money budgets per tenant and per API key, per calendar month (UTC), in integer micro-USD. The
-- gateway reserves each call's estimated cost against them in Redis before the call and settles
-- the real cost after it; the counters start from the ledger's spend when Redis has none.

CREATE TABLE budgets (
    tenant_id uuid NOT NULL REFERENCES tenants (tenant_id),
    -- Nil for the tenant's own budget.
    api_key_id uuid REFERENCES api_keys (id),
    amount_micros bigint NOT NULL CHECK (amount_micros > 0),
    -- Percentages of the amount; crossing each publishes budget.threshold_crossed once a period.
    thresholds integer[] NOT NULL DEFAULT '{50,80,90,100}',
    policy text NOT NULL DEFAULT 'block' CHECK (policy IN ('warn', 'throttle', 'block')),
    updated_at timestamptz NOT NULL DEFAULT now()
);
CREATE UNIQUE INDEX budgets_scope ON budgets (tenant_id, COALESCE(api_key_id, '00000000-0000-0000-0000-000000000000'));

SELECT enable_tenant_isolation('budgets');

GRANT SELECT, INSERT, UPDATE, DELETE ON budgets TO switchyard_app;
