-- A tenant's discount on its invoices, in basis points (1000 = 10 %), in versions like prices:
-- a month's invoice takes the version in force when the month began.

CREATE TABLE tenant_discounts (
    tenant_id uuid NOT NULL REFERENCES tenants (tenant_id),
    version integer NOT NULL CHECK (version > 0),
    effective_from timestamptz NOT NULL,
    basis_points integer NOT NULL CHECK (basis_points BETWEEN 0 AND 10000),
    created_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, version),
    UNIQUE (tenant_id, effective_from)
);

SELECT enable_tenant_isolation('tenant_discounts');

GRANT SELECT, INSERT ON tenant_discounts TO switchyard_app;

ALTER TABLE invoices
    ADD COLUMN discount_basis_points integer NOT NULL DEFAULT 0 CHECK (discount_basis_points BETWEEN 0 AND 10000),
    ADD COLUMN discount_micros bigint NOT NULL DEFAULT 0 CHECK (discount_micros >= 0);
