-- A tenant's routing of a catalog model, overriding the catalog's: its strategy, and which of
-- the model's deployments may answer the tenant, in priority order. The router checks an
-- override against its catalog before it is stored; a deployment the catalog later drops is
-- left out when the override applies.

CREATE TABLE routing_overrides (
    tenant_id uuid NOT NULL REFERENCES tenants (tenant_id),
    model text NOT NULL CHECK (length(model) BETWEEN 1 AND 200),
    -- Nil keeps the catalog's strategy.
    strategy text CHECK (strategy IN ('priority', 'lowest_cost', 'lowest_latency', 'weighted', 'bandit')),
    -- Nil keeps the catalog's deployments.
    deployments text[] CHECK (cardinality(deployments) BETWEEN 1 AND 64),
    -- One per deployment, or nil for the catalog's weights.
    weights integer[] CHECK (
        weights IS NULL OR (cardinality(weights) = cardinality(deployments) AND 0 <= ALL (weights))),
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, model),
    CHECK (strategy IS NOT NULL OR deployments IS NOT NULL)
);

SELECT enable_tenant_isolation('routing_overrides');

GRANT SELECT, INSERT, UPDATE, DELETE ON routing_overrides TO switchyard_app;
