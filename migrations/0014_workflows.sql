-- A tenant's workflows and their runs. A run keeps the spec it was started with (a workflow
-- deleted or replaced later does not change it), and a row per step it finished, written in the
-- transaction that ends the step: a run carried on after a crash reads which steps are done
-- and goes on from the next.

CREATE TABLE workflows (
    tenant_id uuid NOT NULL REFERENCES tenants (tenant_id),
    id uuid NOT NULL,
    spec jsonb NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, id)
);

CREATE TABLE workflow_runs (
    tenant_id uuid NOT NULL REFERENCES tenants (tenant_id),
    id uuid NOT NULL,
    workflow_id uuid NOT NULL,
    spec jsonb NOT NULL,
    input jsonb NOT NULL,
    status text NOT NULL DEFAULT 'queued' CHECK (status IN ('queued', 'running', 'succeeded', 'failed', 'cancelled')),
    -- Whose key started it and under which request: its calls are charged to the key and
    -- recorded under the request id and each step's name.
    api_key_id uuid,
    request_id text NOT NULL,
    -- What its search steps embed queries with.
    embedding_model text NOT NULL,
    output text,
    error text,
    created_at timestamptz NOT NULL DEFAULT now(),
    finished_at timestamptz,
    PRIMARY KEY (tenant_id, id)
);

CREATE TABLE workflow_run_steps (
    tenant_id uuid NOT NULL,
    run_id uuid NOT NULL,
    step_index integer NOT NULL CHECK (step_index >= 0),
    name text NOT NULL,
    status text NOT NULL CHECK (status IN ('succeeded', 'failed')),
    output text,
    error text,
    attempts integer NOT NULL CHECK (attempts >= 1),
    finished_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, run_id, step_index),
    FOREIGN KEY (tenant_id, run_id) REFERENCES workflow_runs (tenant_id, id) ON DELETE CASCADE
);

SELECT enable_tenant_isolation('workflows');
SELECT enable_tenant_isolation('workflow_runs');
SELECT enable_tenant_isolation('workflow_run_steps');

GRANT SELECT, INSERT, UPDATE, DELETE ON workflows, workflow_runs, workflow_run_steps TO switchyard_app;
