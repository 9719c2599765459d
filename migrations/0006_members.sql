-- The people of a tenant: identities from the installation's identity provider, named by the
-- `sub` claim of their tokens, and the roles each holds in the tenant. For a member, these roles
-- are the authority: the roles claim of their tokens is not consulted.

CREATE TABLE members (
    tenant_id uuid NOT NULL REFERENCES tenants (tenant_id),
    subject text NOT NULL CHECK (length(subject) BETWEEN 1 AND 255),
    email text CHECK (email IS NULL OR length(email) BETWEEN 3 AND 320),
    roles text[] NOT NULL CHECK (
        cardinality(roles) BETWEEN 1 AND 5
        AND roles <@ ARRAY['owner', 'admin', 'developer', 'viewer', 'billing']),
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, subject)
);

SELECT enable_tenant_isolation('members');

GRANT SELECT, INSERT, UPDATE, DELETE ON members TO switchyard_app;
