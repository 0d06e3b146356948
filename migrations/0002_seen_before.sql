-- "Seen this before": the past incidents most like this one when it opened, as a JSON array
-- of {id, namespace, pod, started, lasted_minutes, similarity}; '[]' when none (and for the
-- rows written before this migration).
ALTER TABLE incidents ADD COLUMN seen_before TEXT NOT NULL DEFAULT '[]';
