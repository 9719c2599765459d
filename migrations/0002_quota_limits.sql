-- Rate limits and quotas per tenant and per API key. The gateway reads them with the key and
-- enforces them in Redis (QuotaLimiter); a missing row or a null column means "no limit".

CREATE TABLE tenant_limits (
    tenant_id uuid PRIMARY KEY REFERENCES tenants (tenant_id),
    requests_per_minute integer CHECK (requests_per_minute > 0),
    requests_per_day integer CHECK (requests_per_day > 0),
    tokens_per_minute bigint CHECK (tokens_per_minute > 0),
    tokens_per_month bigint CHECK (tokens_per_month > 0),
    concurrent_requests integer CHECK (concurrent_requests > 0),
    updated_at timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE api_key_limits (
    api_key_id uuid PRIMARY KEY REFERENCES api_keys (id),
    tenant_id uuid NOT NULL REFERENCES tenants (tenant_id),
    requests_per_minute integer CHECK (requests_per_minute > 0),
    requests_per_day integer CHECK (requests_per_day > 0),
    tokens_per_minute bigint CHECK (tokens_per_minute > 0),
    tokens_per_month bigint CHECK (tokens_per_month > 0),
    concurrent_requests integer CHECK (concurrent_requests > 0),
    updated_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX api_key_limits_tenant ON api_key_limits (tenant_id);

SELECT enable_tenant_isolation('tenant_limits');
SELECT enable_tenant_isolation('api_key_limits');

GRANT SELECT, INSERT, UPDATE, DELETE ON tenant_limits, api_key_limits TO switchyard_app;
