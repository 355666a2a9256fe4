-- Completed workflow executions are pruned after a retention period (the
-- `workflow_executions_prune_job`, sync_pipeline/defs/contacts/maintenance.py): at 1,000
-- deliveries a second the table would otherwise grow by 86 million rows a day. Dead letters and
-- unfinished executions are never pruned. This index finds the expired completed rows oldest
-- first without reading the rest.
CREATE INDEX workflow_executions_completed_idx ON workflow_executions (completed_at)
    WHERE status = 'completed';
