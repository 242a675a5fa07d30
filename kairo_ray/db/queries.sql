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

-- name: search_index_exists
SELECT to_regclass('document_embeddings_search_text') IS NOT NULL;

-- name: search_column_exists
SELECT EXISTS (
    SELECT 1 FROM pg_attribute
    WHERE attrelid = to_regclass('document_embeddings') AND attname = 'search_text'
      AND NOT attisdropped
);

-- name: fill_search_text
-- Chunks stored before full-text search existed (their words were never indexed).
UPDATE document_embeddings SET search_text = kairo_search_vector(chunk_text)
WHERE search_text IS NULL;

-- name: create_search_indexes
CREATE INDEX IF NOT EXISTS document_embeddings_search_text
    ON document_embeddings USING gin (search_text);
CREATE INDEX IF NOT EXISTS document_embeddings_model
    ON document_embeddings (embedding_model, document_id);

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

-- name: register_instance
-- Hold instance id $1 for Ray session $2 on host $3: taken when free, held by this session, or
-- not renewed for $4 seconds; no row back when another live session holds it.
INSERT INTO kairo_instances AS i (instance_id, session, host, seen_at)
VALUES ($1, $2, $3, now())
ON CONFLICT (instance_id) DO UPDATE
SET session = EXCLUDED.session, host = EXCLUDED.host, seen_at = now()
WHERE i.session = EXCLUDED.session OR i.seen_at < now() - make_interval(secs => $4)
RETURNING true;

-- name: instance_holder
SELECT host, extract(epoch FROM now() - seen_at) AS seconds_ago
FROM kairo_instances WHERE instance_id = $1;

-- name: release_instance
DELETE FROM kairo_instances WHERE instance_id = $1 AND session = $2;

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
-- Vectors already stored for this document in this vector space ($2).
SELECT content_hash, embedding
FROM document_embeddings
WHERE document_id = $1 AND embedding_model = $2
  AND content_hash IS NOT NULL AND embedding IS NOT NULL;

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
SELECT page_number, text, lines, mean_confidence, source, rotation, width, height, blocks
FROM document_pages
WHERE document_id = $1
ORDER BY page_number;

-- name: set_hnsw_ef_search
-- ef_search bounds how many rows an HNSW scan can return (default 40): raise it for large k.
SELECT set_config('hnsw.ef_search', $1, true);

-- name: search_documents
-- Documents for a query: the $5 chunks nearest to the query vector $1 (HNSW, cosine) and,
-- among them (hybrid) or among all (text), those whose words best match the query text $2
-- (full-text, ts_rank), all among the chunks of vector space $4. A chunk scores its cosine similarity to the query plus $7 times its text
-- relevance relative to the best match's ($6 'hybrid'); its similarity alone ('vector'); its
-- relevance alone ('text'). Scores, not ranks, are fused: an e5 model's similarities differ by
-- hundredths between the right document and the next, which reciprocal rank fusion throws away
-- (benchmarks/reports/search.md). A document scores as its best chunk; the $3 best documents
-- come back with up to 3 chunks each, best first, with their cosine similarity.
-- {scope} is the chunks searched: every chunk of the space, or one owner's (the store puts it in).
WITH {scope},
query AS (SELECT kairo_search_query($2) AS q),
vector_hits AS (
    SELECT s.id
    FROM scope s
    WHERE $6 <> 'text' AND s.embedding IS NOT NULL
    ORDER BY s.embedding <=> $1
    LIMIT $5
),
text_hits AS (
    -- text: every chunk's words, through the GIN index.
    SELECT s.id, ts_rank(s.search_text, query.q, 1) AS relevance
    FROM scope s, query
    WHERE $6 = 'text' AND s.search_text @@ query.q
    ORDER BY relevance DESC
    LIMIT $5
),
reranked AS (
    -- hybrid: the words re-score the vector candidates only (cheap at any size: a small text
    -- weight could not lift a chunk from beyond them anyway).
    SELECT e.id, ts_rank(e.search_text, query.q, 1) AS relevance
    FROM vector_hits v JOIN document_embeddings e ON e.id = v.id, query
    WHERE $6 = 'hybrid' AND e.search_text @@ query.q
),
relevances AS (
    SELECT id, relevance FROM text_hits UNION ALL SELECT id, relevance FROM reranked
),
candidates AS (
    SELECT id FROM vector_hits UNION SELECT id FROM text_hits
),
scored AS (
    SELECT e.id, e.document_id, 1 - (e.embedding <=> $1) AS similarity,
           coalesce(t.relevance / nullif(max(t.relevance) OVER (), 0), 0) AS relevance
    FROM candidates c
    JOIN document_embeddings e ON e.id = c.id
    LEFT JOIN relevances t ON t.id = c.id
),
fused AS (
    SELECT id, document_id, similarity,
           CASE $6 WHEN 'text' THEN relevance WHEN 'vector' THEN similarity
                ELSE similarity + $7::float8 * relevance END AS score
    FROM scored
),
ranked AS (
    SELECT id, document_id, score, similarity,
           row_number() OVER (PARTITION BY document_id ORDER BY score DESC, id) AS nth,
           max(score) OVER (PARTITION BY document_id) AS document_score
    FROM fused
),
best AS (
    SELECT DISTINCT document_id, document_score FROM ranked
    ORDER BY document_score DESC, document_id LIMIT $3
)
SELECT b.document_id, d.file_url, b.document_score, r.score AS rank_score, e.chunk_index,
       e.chunk_text, e.page_start, e.page_end, r.similarity
FROM best b
JOIN ranked r ON r.document_id = b.document_id AND r.nth <= 3
JOIN document_embeddings e ON e.id = r.id
JOIN documents d ON d.id = b.document_id
ORDER BY b.document_score DESC, b.document_id, r.score DESC;

-- name: chunks_to_reembed
-- Chunks of one document that has a stored chunk without a vector of space $1 (another
-- model's, or none recorded: the seed service's), each chunk once (a document with vectors of
-- two old spaces has every chunk twice). $2: documents to pass over (failed in this run). The
-- row ids let the write check that the document was not processed again meanwhile.
WITH next AS (
    SELECT e.document_id
    FROM document_embeddings e
    WHERE e.embedding_model IS DISTINCT FROM $1
      AND NOT (e.document_id = ANY($2::uuid[]))
      AND NOT EXISTS (
          SELECT 1 FROM document_embeddings n
          WHERE n.document_id = e.document_id AND n.embedding_model = $1
            AND n.chunk_index = e.chunk_index
      )
    LIMIT 1
)
SELECT DISTINCT ON (e.chunk_index)
       e.id, e.document_id, e.chunk_index, e.chunk_text, e.chunk_length, e.content_hash,
       e.page_start, e.page_end, e.char_start, e.char_end
FROM document_embeddings e
JOIN next ON next.document_id = e.document_id
WHERE e.embedding_model IS DISTINCT FROM $1
ORDER BY e.chunk_index, e.embedding_model NULLS LAST, e.id;

-- name: count_to_reembed
-- Chunks still without a vector of space $1, and documents holding them.
SELECT count(*) AS chunks, count(DISTINCT document_id) AS documents
FROM document_embeddings e
WHERE e.embedding_model IS DISTINCT FROM $1
  AND NOT EXISTS (
      SELECT 1 FROM document_embeddings n
      WHERE n.document_id = e.document_id AND n.embedding_model = $1
        AND n.chunk_index = e.chunk_index
  );

-- name: count_chunk_rows
-- How many of the rows $1 (ids of document_embeddings) still exist: a re-embed stores its
-- vectors only if the chunks it read were not replaced by a completion meanwhile.
SELECT count(*) FROM document_embeddings WHERE id = ANY($1::uuid[]);

-- name: claim_reembed
-- Take (or create) the re-embedding run into space $1 for holder $2, with a lease of $3
-- seconds: when it is new, held by $2 already, or its holder's lease ran out. $4: the space
-- search answers from meanwhile; $5: chunks still to do. A run that was done and now has work
-- again is a new model change (back to this model) when $4 is not the space it recorded: it
-- starts afresh, search back on $4 until it completes; otherwise (a straggler written in the
-- old space) search stays on $1. No row back while another holder's lease lasts.
INSERT INTO kairo_reembed AS r (space, previous_space, chunks_total, holder, locked_until)
VALUES ($1, $4, $5, $2, now() + make_interval(secs => $3))
ON CONFLICT (space) DO UPDATE
SET holder = EXCLUDED.holder, locked_until = EXCLUDED.locked_until, state = 'running',
    previous_space = CASE WHEN r.state = 'done' AND r.previous_space IS DISTINCT FROM $4
                          THEN $4 ELSE coalesce(r.previous_space, $4) END,
    completed_at = CASE WHEN r.state = 'done' AND r.previous_space IS DISTINCT FROM $4
                        THEN NULL ELSE r.completed_at END,
    started_at = CASE WHEN r.state = 'done' AND r.previous_space IS DISTINCT FROM $4
                      THEN now() ELSE r.started_at END,
    chunks_done = CASE WHEN r.state = 'done' AND r.previous_space IS DISTINCT FROM $4
                       THEN 0 ELSE r.chunks_done END,
    documents_done = CASE WHEN r.state = 'done' AND r.previous_space IS DISTINCT FROM $4
                          THEN 0 ELSE r.documents_done END,
    chunks_total = CASE WHEN r.state = 'done' AND r.previous_space IS DISTINCT FROM $4
                        THEN 0 ELSE r.chunks_done END + $5,
    resumed_chunks_done = CASE WHEN r.state = 'done' AND r.previous_space IS DISTINCT FROM $4
                               THEN 0 ELSE r.chunks_done END,
    errors = 0, last_error = NULL, resumed_at = now(), updated_at = now()
WHERE r.holder IS NULL OR r.holder = EXCLUDED.holder OR r.locked_until < now()
RETURNING space;

-- name: renew_reembed
-- Holder $2 keeps its run of space $1 for $3 more seconds; no row back when it lost it.
UPDATE kairo_reembed SET locked_until = now() + make_interval(secs => $3)
WHERE space = $1 AND holder = $2
RETURNING true;

-- name: reembed_progress
-- In the transaction that stores a document's vectors: $3 chunks more done by holder $2 (and
-- its lease renewed for $4 seconds); no row back when $2 no longer holds the run.
UPDATE kairo_reembed
SET chunks_done = chunks_done + $3, documents_done = documents_done + 1,
    chunks_total = greatest(chunks_total, chunks_done + $3),
    locked_until = now() + make_interval(secs => $4), updated_at = now()
WHERE space = $1 AND holder = $2
RETURNING true;

-- name: reembed_error
-- A document holder $2 could not re-embed into space $1 (it is passed over until the next run).
UPDATE kairo_reembed
SET errors = errors + 1, last_error = $3, updated_at = now()
WHERE space = $1 AND holder = $2;

-- name: finish_reembed
-- Holder $2 ends its run of space $1 as $3 ('done': every chunk has a vector of $1, and search
-- switches to it; 'failed': some documents failed; 'running': stopped midway, to be resumed).
UPDATE kairo_reembed
SET state = $3, holder = NULL, locked_until = NULL, updated_at = now(),
    chunks_total = CASE WHEN $3 = 'done' THEN chunks_done ELSE chunks_total END,
    completed_at = CASE WHEN $3 = 'done' THEN coalesce(completed_at, now()) ELSE completed_at END
WHERE space = $1 AND holder = $2
RETURNING true;

-- name: complete_reembed
-- Every chunk has a vector of space $1 (checked in the same transaction): search may use it.
UPDATE kairo_reembed SET completed_at = coalesce(completed_at, now()), updated_at = now()
WHERE space = $1;

-- name: reembed_runs
-- Re-embedding runs, the latest first; $1: one space only (NULL: all).
SELECT space, previous_space, state, chunks_total, chunks_done, documents_done, errors,
       last_error, holder, coalesce(locked_until > now(), false) AS held, started_at,
       resumed_at, resumed_chunks_done, updated_at, completed_at,
       extract(epoch FROM updated_at - resumed_at)::float8 AS resumed_seconds,
       extract(epoch FROM now() - updated_at)::float8 AS idle_seconds
FROM kairo_reembed
WHERE $1::text IS NULL OR space = $1
ORDER BY updated_at DESC;

-- name: lock_document
-- Serialises writers of one document's chunks (a re-embed, a completion) for the transaction.
SELECT id FROM documents WHERE id = $1 FOR UPDATE;

-- name: delete_space_of_document
DELETE FROM document_embeddings WHERE document_id = $1 AND embedding_model = $2;

-- name: prune_other_spaces
-- Once every chunk has a vector of space $1: the vectors of every other space go.
DELETE FROM document_embeddings WHERE embedding_model IS DISTINCT FROM $1;

-- name: embedding_spaces
-- Stored chunks per vector space (NULL: vectors stored before spaces were recorded).
SELECT embedding_model AS space, count(*) AS chunks
FROM document_embeddings GROUP BY embedding_model ORDER BY chunks DESC;

-- name: insert_webhook_delivery
-- The webhook of job $1, written in the transaction that completes or fails it (event $2:
-- 'completed' or 'failed'), so it exists exactly when that outcome is committed. A failure's
-- payload $3 gets the job's error as stored (with "gave up after N attempts" where it applies).
INSERT INTO kairo_webhook_outbox (document_id, queue_id, event, payload)
SELECT q.document_id, q.id, $2::text,
       $3::jsonb || CASE WHEN $2::text = 'failed'
                         THEN jsonb_build_object('error', q.error_message)
                         ELSE '{}'::jsonb END
FROM ocr_queue q
WHERE q.id = $1
RETURNING delivery_id;

-- name: claim_webhook_deliveries
-- Up to $1 due deliveries, each taken for a lease of $2 seconds: next_attempt_at moves to the
-- lease's end (another deliverer sees the row again only if this one dies mid-send), the
-- attempt is counted and a new claim_token fences the outcome. SKIP LOCKED: concurrent
-- deliverers never take the same row. A due row that already made its last attempt ($3 =
-- WEBHOOK_MAX_ATTEMPTS; its deliverer stopped before reporting back) is given up instead.
WITH spent AS (
    UPDATE kairo_webhook_outbox o
    SET gave_up_at = now(),
        claim_token = NULL,
        last_error = format('%s attempts made (WEBHOOK_MAX_ATTEMPTS=%s), the last without an '
                            'outcome; before it: %s', o.attempts, $3::integer,
                            coalesce(o.last_error, 'no error'))
    WHERE o.delivery_id IN (
        SELECT x.delivery_id FROM kairo_webhook_outbox x
        WHERE x.delivered_at IS NULL AND x.gave_up_at IS NULL
          AND x.next_attempt_at <= now() AND x.attempts >= $3::integer
        FOR UPDATE SKIP LOCKED
    )
    RETURNING 1
),
due AS (
    SELECT x.delivery_id FROM kairo_webhook_outbox x
    WHERE x.delivered_at IS NULL AND x.gave_up_at IS NULL
      AND x.next_attempt_at <= now() AND x.attempts < $3::integer
    ORDER BY x.next_attempt_at, x.created_at
    LIMIT $1
    FOR UPDATE SKIP LOCKED
)
UPDATE kairo_webhook_outbox o
SET attempts = o.attempts + 1,
    next_attempt_at = now() + make_interval(secs => $2::float8),
    claim_token = gen_random_uuid()
FROM due
WHERE o.delivery_id = due.delivery_id
RETURNING o.delivery_id, o.document_id, o.queue_id, o.event, o.payload, o.attempts,
          o.claim_token;

-- name: webhook_delivered
-- The receiver took it. Not fenced by the claim: a success is a success, even one that came
-- after the lease ran out (another deliverer may then send it again: at least once).
UPDATE kairo_webhook_outbox
SET delivered_at = now(), claim_token = NULL
WHERE delivery_id = $1 AND delivered_at IS NULL;

-- name: webhook_retry
-- Attempt failed: try again in $3 seconds, keeping the error. Only with the current claim $2
-- (no row back: the lease ran out and someone else holds it now).
UPDATE kairo_webhook_outbox
SET next_attempt_at = now() + make_interval(secs => $3::float8), last_error = $4,
    claim_token = NULL
WHERE delivery_id = $1 AND claim_token = $2
  AND delivered_at IS NULL AND gave_up_at IS NULL
RETURNING next_attempt_at;

-- name: webhook_give_up
-- No more attempts (used up, or the receiver refused it): the reason $3 is kept.
UPDATE kairo_webhook_outbox
SET gave_up_at = now(), last_error = $3, claim_token = NULL
WHERE delivery_id = $1 AND claim_token = $2
  AND delivered_at IS NULL AND gave_up_at IS NULL
RETURNING gave_up_at;

-- name: webhook_deliveries_of_job
-- A job's webhook rows, oldest first (status and tests).
SELECT delivery_id, document_id, queue_id, event, payload, attempts, next_attempt_at,
       claim_token, delivered_at, gave_up_at, last_error, created_at
FROM kairo_webhook_outbox
WHERE queue_id = $1
ORDER BY created_at;

-- name: truncate_all
-- Tests only: an empty schema between tests (migrations stay recorded).
TRUNCATE kairo_webhook_outbox, kairo_reembed, document_embeddings, document_pages, ocr_queue,
    documents, kairo_instances;
