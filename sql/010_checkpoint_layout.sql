-- What a checkpoint's position means: the page size it counts in, the listing's ordering and the
-- scope's query parameters. A page number alone is ambiguous: page 7 of 500 records is record
-- 3,500, page 7 of 1,000 is record 7,000, so a retry with another page size resumed at the wrong
-- record. A run resumes a checkpoint only when its own layout matches, translates a page into its
-- own page size when only that differs, and otherwise starts the scope over
-- (sync_pipeline/engine/checkpoints.py). NULL: written before layouts were recorded, or by a
-- stream whose positions do not depend on how it asks (never translated, resumed as is only by
-- such a stream).
ALTER TABLE sync_checkpoints ADD COLUMN layout jsonb;

COMMENT ON COLUMN sync_checkpoints.layout IS
    'what page/cursor mean: {"page_size": N, "order": ..., "params": {...}}; NULL: not recorded';
