-- Billing's ledger: one entry per usage.recorded event, written in the same transaction that
-- records the event as processed, so a redelivered event has no second effect. Append-only:
-- the application may add and read entries, never change or remove them. Amounts are integer
-- micro-USD.

CREATE TABLE ledger_entries (
    tenant_id uuid NOT NULL REFERENCES tenants (tenant_id),
    -- The usage.recorded envelope id, derived from the request id: one entry per call.
    event_id uuid NOT NULL,
    request_id text NOT NULL,
    api_key_id uuid,
    model text NOT NULL,
    deployment text NOT NULL,
    prompt_tokens integer NOT NULL CHECK (prompt_tokens >= 0),
    completion_tokens integer NOT NULL CHECK (completion_tokens >= 0),
    cost_micros bigint NOT NULL CHECK (cost_micros >= 0),
    status text NOT NULL CHECK (status IN ('succeeded', 'failed', 'cancelled')),
    occurred_at timestamptz NOT NULL,
    recorded_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, event_id)
);
CREATE INDEX ledger_entries_occurred ON ledger_entries (tenant_id, occurred_at);

SELECT enable_tenant_isolation('ledger_entries');

GRANT SELECT, INSERT ON ledger_entries TO switchyard_app;
