-- The price book: what tenants are charged per million tokens of a model, in versions that take
-- effect at a time of their own, and a tenant's own prices beside it. Versions are only added,
-- never changed: a call is priced by the version in force when it occurred, and stays so. A
-- model with no version in force is charged at its catalog price.

CREATE TABLE price_book (
    model text NOT NULL CHECK (length(model) BETWEEN 1 AND 200),
    version integer NOT NULL CHECK (version > 0),
    effective_from timestamptz NOT NULL,
    input_micros_per_million bigint NOT NULL CHECK (input_micros_per_million >= 0),
    output_micros_per_million bigint NOT NULL CHECK (output_micros_per_million >= 0),
    created_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (model, version),
    UNIQUE (model, effective_from)
);

GRANT SELECT, INSERT ON price_book TO switchyard_app;

-- A tenant's own prices of a model, in versions like the book's. A version without prices puts
-- the book back in force for the tenant from its time on.
CREATE TABLE tenant_prices (
    tenant_id uuid NOT NULL REFERENCES tenants (tenant_id),
    model text NOT NULL CHECK (length(model) BETWEEN 1 AND 200),
    version integer NOT NULL CHECK (version > 0),
    effective_from timestamptz NOT NULL,
    input_micros_per_million bigint CHECK (input_micros_per_million >= 0),
    output_micros_per_million bigint CHECK (output_micros_per_million >= 0),
    created_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, model, version),
    UNIQUE (tenant_id, model, effective_from),
    CHECK ((input_micros_per_million IS NULL) = (output_micros_per_million IS NULL))
);

SELECT enable_tenant_isolation('tenant_prices');

GRANT SELECT, INSERT ON tenant_prices TO switchyard_app;

-- Which price a ledger entry was charged at: `catalog`, `book:<version>` or `tenant:<version>`.
ALTER TABLE ledger_entries ADD COLUMN priced_by text NOT NULL DEFAULT 'catalog';
