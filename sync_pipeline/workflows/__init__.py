"""Contact field-change workflows without Dagster: the dispatcher (change log -> queue), the
webhook workers, the trigger cache, metrics and partition maintenance (sql/009_contacts.sql).

    sync-pipeline workflows worker --concurrency 16 --metrics-port 9464
    sync-pipeline workflows replay
"""
