-- Incident history: one row per pod alert episode, upserted by its stable id
-- (namespace/pod/start), so replaying the same logs again rewrites the same rows.
-- The same SQL runs on SQLite and PostgreSQL. Times are Unix nanoseconds.
CREATE TABLE incidents (
    id TEXT PRIMARY KEY,
    namespace TEXT NOT NULL,
    pod TEXT NOT NULL,
    -- the group the pod was announced in: 'namespace:<ns>', 'cause:<workload>', 'cluster';
    -- NULL when it was announced alone
    grouped_in TEXT,
    -- 'open' or 'resolved'
    status TEXT NOT NULL,
    started_ns BIGINT NOT NULL,
    ended_ns BIGINT,
    peak_burst DOUBLE PRECISION NOT NULL,
    threshold DOUBLE PRECISION NOT NULL,
    category TEXT NOT NULL,
    -- the other workload its lines name most often
    dependency TEXT,
    -- JSON array of {ts, score, line}: the top lines, redacted
    top_lines TEXT NOT NULL,
    model_version TEXT NOT NULL,
    updated_ns BIGINT NOT NULL
);
CREATE INDEX incidents_started ON incidents (started_ns);
CREATE INDEX incidents_pod ON incidents (namespace, pod);
