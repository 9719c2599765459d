-- Tenants, API keys, the audit log and processed event ids.
--
-- Every tenant-owned table has tenant_id NOT NULL, row-level security enabled and forced, and
-- the policy tenant_isolation on app.tenant_id, which Database.withTenant sets per transaction.
-- The application role switchyard_app owns nothing and has no BYPASSRLS; these migrations run
-- as the owner role.

CREATE TABLE tenants (
    tenant_id uuid PRIMARY KEY,
    name text NOT NULL CHECK (length(name) BETWEEN 1 AND 200),
    status text NOT NULL DEFAULT 'active' CHECK (status IN ('active', 'suspended')),
    created_at timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE api_keys (
    id uuid PRIMARY KEY,
    tenant_id uuid NOT NULL REFERENCES tenants (tenant_id),
    name text NOT NULL CHECK (length(name) BETWEEN 1 AND 200),
    -- The public start of the key, unique, to find it without knowing the tenant.
    prefix text NOT NULL UNIQUE,
    -- SHA-256 of the whole key: keys carry 256 random bits, so a slow hash adds nothing.
    secret_hash bytea NOT NULL CHECK (length(secret_hash) = 32),
    role text NOT NULL CHECK (role IN ('owner', 'admin', 'developer', 'viewer', 'billing')),
    allowed_models text[],
    expires_at timestamptz,
    revoked_at timestamptz,
    created_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX api_keys_tenant ON api_keys (tenant_id);

-- Append-only and hash-chained per tenant: each row's hash covers the previous row's hash and
-- its own content, so an edited or removed row breaks the chain after it.
CREATE TABLE audit_log (
    tenant_id uuid NOT NULL REFERENCES tenants (tenant_id),
    seq bigint NOT NULL,
    occurred_at timestamptz NOT NULL DEFAULT now(),
    actor text NOT NULL,
    action text NOT NULL,
    target text,
    details jsonb NOT NULL DEFAULT '{}',
    prev_hash bytea,
    hash bytea NOT NULL,
    PRIMARY KEY (tenant_id, seq)
);

CREATE FUNCTION audit_log_chain() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    last audit_log%ROWTYPE;
BEGIN
    -- One writer per tenant at a time, so two appends cannot take the same seq.
    PERFORM pg_advisory_xact_lock(hashtextextended(NEW.tenant_id::text, 7));
    SELECT * INTO last FROM audit_log WHERE tenant_id = NEW.tenant_id ORDER BY seq DESC LIMIT 1;
    NEW.seq := COALESCE(last.seq, 0) + 1;
    NEW.prev_hash := last.hash;
    NEW.occurred_at := date_trunc('milliseconds', NEW.occurred_at);
    NEW.hash := audit_log_hash(NEW.prev_hash, NEW.tenant_id, NEW.seq, NEW.occurred_at,
                               NEW.actor, NEW.action, NEW.target, NEW.details);
    RETURN NEW;
END
$$;

CREATE FUNCTION audit_log_hash(prev_hash bytea, tenant_id uuid, seq bigint, occurred_at timestamptz,
                               actor text, action text, target text, details jsonb)
RETURNS bytea LANGUAGE sql IMMUTABLE AS $$
    SELECT sha256(COALESCE(prev_hash, '\x'::bytea) || convert_to(jsonb_build_array(
        tenant_id, seq, to_char(occurred_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"'),
        actor, action, target, details)::text, 'UTF8'))
$$;

CREATE TRIGGER audit_log_chain BEFORE INSERT ON audit_log
    FOR EACH ROW EXECUTE FUNCTION audit_log_chain();

CREATE TABLE processed_events (
    tenant_id uuid NOT NULL,
    consumer text NOT NULL,
    event_id uuid NOT NULL,
    processed_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, consumer, event_id)
);

-- Row-level security on every tenant-owned table, the same way for each: later migrations call
-- this for each table they add.
CREATE FUNCTION enable_tenant_isolation(target regclass) RETURNS void LANGUAGE plpgsql AS $$
BEGIN
    EXECUTE format('ALTER TABLE %s ENABLE ROW LEVEL SECURITY', target);
    EXECUTE format('ALTER TABLE %s FORCE ROW LEVEL SECURITY', target);
    EXECUTE format($policy$
        CREATE POLICY tenant_isolation ON %s
            USING (tenant_id = NULLIF(current_setting('app.tenant_id', true), '')::uuid)
            WITH CHECK (tenant_id = NULLIF(current_setting('app.tenant_id', true), '')::uuid)
        $policy$, target);
END
$$;
REVOKE ALL ON FUNCTION enable_tenant_isolation(regclass) FROM PUBLIC;

SELECT enable_tenant_isolation('tenants');
SELECT enable_tenant_isolation('api_keys');
SELECT enable_tenant_isolation('audit_log');
SELECT enable_tenant_isolation('processed_events');

-- Resolving a key happens before its tenant is known. This one function, owned by the owner
-- role, may read every tenant's keys; it answers one prefix at a time and nothing else. The
-- owner role reads through these SELECT-only policies; it has no BYPASSRLS either.
CREATE POLICY resolve_api_key ON api_keys FOR SELECT TO CURRENT_USER USING (true);
CREATE POLICY resolve_api_key ON tenants FOR SELECT TO CURRENT_USER USING (true);

CREATE FUNCTION resolve_api_key(key_prefix text)
RETURNS TABLE (id uuid, tenant_id uuid, secret_hash bytea, role text, allowed_models text[],
               expires_at timestamptz, revoked_at timestamptz, tenant_status text)
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = pg_catalog, public AS $$
    SELECT k.id, k.tenant_id, k.secret_hash, k.role, k.allowed_models, k.expires_at, k.revoked_at, t.status
    FROM public.api_keys k JOIN public.tenants t ON t.tenant_id = k.tenant_id
    WHERE k.prefix = key_prefix
$$;

REVOKE ALL ON FUNCTION resolve_api_key(text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION resolve_api_key(text) TO switchyard_app;

GRANT SELECT, INSERT, UPDATE, DELETE ON tenants, api_keys, processed_events TO switchyard_app;
-- Append-only: the application may add audit rows and read them, never change them.
GRANT SELECT, INSERT ON audit_log TO switchyard_app;
