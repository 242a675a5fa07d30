-- Every query kairo-ray's Python code runs, by name (loaded by kairo_ray/db/queries.py).
-- The schema and the stored functions live in migrations/; the rules of the queue (claiming,
-- leases, backoff, fencing) live in those functions, so these queries stay thin.
-- All queries work through pgbouncer in transaction mode: no session state, no named statements.

-- name: vector_type_schema
-- Schema holding pgvector's type: 'public' when kairo-ray created it, 'extensions' on Supabase.
SELECT n.nspname
FROM pg_type t
JOIN pg_namespace n ON n.oid = t.typnamespace
WHERE t.typname = 'vector'
ORDER BY n.nspname = 'public' DESC
LIMIT 1;

-- name: set_owner_column
-- For migration 0003: which column of documents holds the owner (DOCUMENTS_OWNER_COLUMN).
SELECT set_config('kairo_ray.owner_column', $1, true);

-- name: lock_migrations
-- Held until the migrating transaction ends, so two nodes starting at once migrate one by one.
SELECT pg_advisory_xact_lock(hashtext('kairo-ray schema migrations'));

-- name: create_migrations_table
CREATE TABLE IF NOT EXISTS kairo_schema_migrations (
    version integer PRIMARY KEY,
    name text NOT NULL,
    checksum text NOT NULL,
    applied_at timestamptz NOT NULL DEFAULT now()
);

-- name: migrations_table_exists
SELECT to_regclass('kairo_schema_migrations') IS NOT NULL;

-- name: applied_migrations
SELECT version, name, checksum FROM kairo_schema_migrations ORDER BY version;

-- name: record_migration
INSERT INTO kairo_schema_migrations (version, name, checksum) VALUES ($1, $2, $3);

-- name: vector_index_exists
SELECT to_regclass('document_embeddings_embedding_hnsw') IS NOT NULL;

-- name: count_stored_vectors
SELECT count(*) FROM document_embeddings WHERE embedding IS NOT NULL;

-- name: without_statement_timeout
-- For this transaction only: a one-time index build may outlast the server's limit (Supabase
-- stops every statement after 2 minutes). SET LOCAL works through pgbouncer's transaction mode.
SELECT set_config('statement_timeout', '0', true);

-- name: create_vector_index
-- The same statement as in 0001_ocr_queue_schema.sql, which then finds the index in place.
CREATE INDEX IF NOT EXISTS document_embeddings_embedding_hnsw
    ON document_embeddings USING hnsw (embedding vector_cosine_ops);

-- name: column_type
-- Type of one column: typname ('vector', 'uuid', ...), typmod (a vector's dimensions) and the
-- readable form; no row when the table or column does not exist.
SELECT t.typname AS type_name, a.atttypmod AS typmod,
       format_type(a.atttypid, a.atttypmod) AS formatted
FROM pg_attribute a
JOIN pg_type t ON t.oid = a.atttypid
WHERE a.attrelid = to_regclass($1) AND a.attname = $2 AND a.attnum > 0 AND NOT a.attisdropped;

-- name: table_columns
SELECT a.attname
FROM pg_attribute a
WHERE a.attrelid = to_regclass($1) AND a.attnum > 0 AND NOT a.attisdropped;

-- name: function_exists
SELECT to_regprocedure($1) IS NOT NULL;

-- name: claim_job
SELECT queue_id, document_id, file_url, file_type, priority, attempts, claim_token, locked_until
FROM get_next_ocr_job($1, $2, $3);

-- name: heartbeat_job
SELECT ocr_job_heartbeat($1, $2, $3, $4);

-- name: fail_job
SELECT ocr_job_fail($1, $2, $3, $4, $5, $6);

-- name: release_job
SELECT ocr_job_release($1, $2, $3, $4);

-- name: end_leases
SELECT ocr_job_end_leases($1);

-- name: cancel_job
SELECT ocr_job_cancel($1, $2);

-- name: requeue_job
SELECT ocr_job_requeue($1, $2);

-- name: enqueue_job
SELECT queue_id, status, created FROM ocr_job_enqueue($1, $2);

-- name: get_job
SELECT id AS queue_id, document_id, status, priority, attempts, max_attempts, error_message,
       locked_by, locked_until, claim_token, run_after, created_at, started_at, completed_at,
       updated_at
FROM ocr_queue
WHERE id = $1;

-- name: queue_stats
SELECT count(*) FILTER (WHERE status = 'queued') AS queued,
       count(*) FILTER (WHERE status = 'processing') AS processing,
       count(*) FILTER (WHERE status = 'completed'
                        AND completed_at >= date_trunc('day', now())) AS completed_today,
       count(*) FILTER (WHERE status = 'failed') AS failed,
       count(*) FILTER (WHERE status = 'cancelled') AS cancelled,
       extract(epoch FROM now() - min(created_at) FILTER (WHERE status = 'queued'))::float8
           AS oldest_queued_age_seconds
FROM ocr_queue;

-- name: queue_size
SELECT count(*) FROM ocr_queue WHERE status = 'queued';

-- name: insert_document
-- The auto_queue_trigger queues the document in the same statement.
INSERT INTO documents (file_url, file_type) VALUES ($1, $2) RETURNING id;

-- name: set_active_job_priority
UPDATE ocr_queue SET priority = $2, updated_at = now()
WHERE document_id = $1 AND status IN ('queued', 'processing');

-- name: lock_job_for_completion
-- Row lock: while it is held no other worker can re-claim, cancel or fail this job.
SELECT document_id, status, claim_token FROM ocr_queue WHERE id = $1 FOR UPDATE;

-- name: delete_document_pages
DELETE FROM document_pages WHERE document_id = $1;

-- name: delete_document_embeddings
DELETE FROM document_embeddings WHERE document_id = $1;

-- name: store_document_result
UPDATE documents
SET ocr_text = $2, page_count = $3, language = $4, status = 'completed', updated_at = now()
WHERE id = $1;

-- name: complete_job
UPDATE ocr_queue
SET status = 'completed', error_message = NULL, locked_until = NULL, completed_at = now(),
    updated_at = now()
WHERE id = $1;

-- name: existing_embeddings
SELECT content_hash, embedding
FROM document_embeddings
WHERE document_id = $1 AND content_hash IS NOT NULL AND embedding IS NOT NULL;

-- name: get_document
-- The document with its latest job (the one an API caller asks about). $2: only when its owner
-- ("{owner}", DOCUMENTS_OWNER_COLUMN, put in by the store) is that user; NULL: any owner.
SELECT d.id, d.file_url, d.file_type, d.status, d.page_count, d.language, d.ocr_text,
       d.created_at, d.updated_at,
       j.id AS job_id, j.status AS job_status, j.attempts AS job_attempts,
       j.error_message AS error
FROM documents d
LEFT JOIN LATERAL (
    SELECT q.id, q.status, q.attempts, q.error_message
    FROM ocr_queue q
    WHERE q.document_id = d.id
    ORDER BY q.created_at DESC
    LIMIT 1
) j ON true
WHERE d.id = $1 AND ($2::text IS NULL OR d."{owner}"::text = $2::text);

-- name: get_pages
SELECT page_number, text, lines, mean_confidence, source, rotation, width, height
FROM document_pages
WHERE document_id = $1
ORDER BY page_number;

-- name: set_hnsw_ef_search
-- ef_search bounds how many rows an HNSW scan can return (default 40): raise it for large k.
SELECT set_config('hnsw.ef_search', $1, true);

-- name: search_chunks
-- Cosine distance through the HNSW index (vector_cosine_ops); score = 1 - distance.
SELECT e.document_id, d.file_url, e.page_start, e.page_end, e.chunk_index, e.chunk_text,
       1 - (e.embedding <=> $1) AS score
FROM document_embeddings e
JOIN documents d ON d.id = e.document_id
WHERE e.embedding IS NOT NULL
ORDER BY e.embedding <=> $1
LIMIT $2;

-- name: search_owned_chunks
-- One user's chunks ($3), compared exactly: an HNSW scan filtered afterwards would return
-- fewer than k (often none) for a user whose chunks are few among everyone's.
WITH mine AS MATERIALIZED (
    SELECT e.document_id, d.file_url, e.page_start, e.page_end, e.chunk_index, e.chunk_text,
           e.embedding
    FROM document_embeddings e
    JOIN documents d ON d.id = e.document_id
    WHERE d."{owner}"::text = $3::text AND e.embedding IS NOT NULL
)
SELECT document_id, file_url, page_start, page_end, chunk_index, chunk_text,
       1 - (embedding <=> $1) AS score
FROM mine
ORDER BY embedding <=> $1
LIMIT $2;

-- name: truncate_all
-- Tests only: an empty schema between tests (migrations stay recorded).
TRUNCATE document_embeddings, document_pages, ocr_queue, documents;
