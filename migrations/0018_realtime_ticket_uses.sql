-- Realtime tickets that have opened a socket: a ticket opens one, once, on any replica. Rows
-- outlive their ticket by a few minutes and are then deleted by the realtime service.
CREATE TABLE realtime_ticket_uses (
    tenant_id uuid NOT NULL REFERENCES tenants (tenant_id),
    ticket_id uuid NOT NULL,
    expires_at timestamptz NOT NULL,
    used_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, ticket_id)
);

CREATE INDEX realtime_ticket_uses_expiry ON realtime_ticket_uses (tenant_id, expires_at);

SELECT enable_tenant_isolation('realtime_ticket_uses');

GRANT SELECT, INSERT, DELETE ON realtime_ticket_uses TO switchyard_app;
