-- Analytics' read models, projected from the events by the analytics service and rebuildable
-- from the EVENTS stream: what happened per tenant, key, model, deployment and hour, and each
-- budget's standing. Nothing here is authoritative; billing's ledger is.

-- The calls of one hour (UTC), per key, model and deployment. Calls without a key (a member's
-- token) are kept under the nil UUID, so the key is part of the primary key.
CREATE TABLE analytics_usage_hourly (
    tenant_id uuid NOT NULL REFERENCES tenants (tenant_id),
    hour timestamptz NOT NULL CHECK (date_trunc('hour', hour) = hour),
    api_key_id uuid NOT NULL,
    model text NOT NULL,
    deployment text NOT NULL,
    requests bigint NOT NULL CHECK (requests > 0),
    failed bigint NOT NULL CHECK (failed >= 0),
    cancelled bigint NOT NULL CHECK (cancelled >= 0),
    prompt_tokens bigint NOT NULL CHECK (prompt_tokens >= 0),
    completion_tokens bigint NOT NULL CHECK (completion_tokens >= 0),
    cost_micros bigint NOT NULL CHECK (cost_micros >= 0),
    latency_ms_sum bigint NOT NULL CHECK (latency_ms_sum >= 0),
    -- Calls per latency bucket, the buckets of LatencyHistogram in the analytics service.
    latency_buckets bigint[] NOT NULL,
    PRIMARY KEY (tenant_id, hour, api_key_id, model, deployment)
);

-- Each budget's amount and policy (from the latest budget.changed, by when it occurred) and the
-- highest threshold crossed in its latest period (from budget.threshold_crossed): the same rows
-- whatever order the events are projected in. The tenant's own budget is under the nil UUID.
CREATE TABLE analytics_budgets (
    tenant_id uuid NOT NULL REFERENCES tenants (tenant_id),
    api_key_id uuid NOT NULL,
    amount_micros bigint,
    policy text,
    changed_at timestamptz,
    changed_event uuid,
    period text,
    crossed_percent integer,
    spent_micros bigint,
    PRIMARY KEY (tenant_id, api_key_id)
);

-- The events projected: each once, in the transaction that projects it.
CREATE TABLE analytics_processed_events (
    tenant_id uuid NOT NULL,
    event_id uuid NOT NULL,
    PRIMARY KEY (tenant_id, event_id)
);

SELECT enable_tenant_isolation('analytics_usage_hourly');
SELECT enable_tenant_isolation('analytics_budgets');
SELECT enable_tenant_isolation('analytics_processed_events');

-- DELETE: a rebuild of some tenants empties their rows in their own transactions.
GRANT SELECT, INSERT, UPDATE, DELETE ON analytics_usage_hourly, analytics_budgets, analytics_processed_events TO switchyard_app;

-- Empties every read model of every tenant before a rebuild replays the events into them: the
-- one cross-tenant write analytics makes, and only of data the events can make again.
CREATE FUNCTION analytics_reset() RETURNS void LANGUAGE sql SECURITY DEFINER SET search_path = public AS $$
    TRUNCATE analytics_usage_hourly, analytics_budgets, analytics_processed_events;
$$;
REVOKE ALL ON FUNCTION analytics_reset() FROM PUBLIC;
GRANT EXECUTE ON FUNCTION analytics_reset() TO switchyard_app;
