-- What a run's steps did outside the orchestrator, which a run that fails or is cancelled undoes
-- (a saga's compensation): written before the step acts, with the id it acts under, so a step
-- taken up again acts under the same id, and an effect whose answer was lost is undone too.
CREATE TABLE workflow_run_effects (
    tenant_id uuid NOT NULL,
    run_id uuid NOT NULL,
    step_index integer NOT NULL CHECK (step_index >= 0),
    -- 'document': the step stored the document `resource_id`; undone by deleting it.
    kind text NOT NULL CHECK (kind IN ('document')),
    resource_id uuid NOT NULL,
    compensated_at timestamptz,
    PRIMARY KEY (tenant_id, run_id, step_index),
    FOREIGN KEY (tenant_id, run_id) REFERENCES workflow_runs (tenant_id, id) ON DELETE CASCADE
);

SELECT enable_tenant_isolation('workflow_run_effects');

GRANT SELECT, INSERT, UPDATE, DELETE ON workflow_run_effects TO switchyard_app;
