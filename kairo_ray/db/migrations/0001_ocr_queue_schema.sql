-- 0001: Kairo's OCR tables, the job queue and the functions that keep it consistent.
--
-- Written to run on a fresh database AND on Kairo's existing Supabase database, where
-- documents, ocr_queue, document_embeddings, get_next_ocr_job(text) and auto_queue_trigger may
-- already exist: tables are created with only their key and every column is added with
-- ADD COLUMN IF NOT EXISTS, the seed's functions and trigger are replaced under the same names.
-- migrate.py runs this file inside one transaction holding an advisory lock, after checking that
-- existing tables have compatible key and vector types (it refuses vector(1536), see migrate.py).

CREATE EXTENSION IF NOT EXISTS vector;

-- documents: owned by the Kairo app; kairo-ray fills ocr_text, page_count, language, status.
-- status: pending (no job yet), queued, processing, completed, failed, cancelled.
CREATE TABLE IF NOT EXISTS documents (
    id uuid PRIMARY KEY DEFAULT gen_random_uuid()
);
ALTER TABLE documents
    ADD COLUMN IF NOT EXISTS file_url text NOT NULL,
    ADD COLUMN IF NOT EXISTS file_type text,
    ADD COLUMN IF NOT EXISTS ocr_text text,
    ADD COLUMN IF NOT EXISTS ai_metadata jsonb,
    ADD COLUMN IF NOT EXISTS page_count integer,
    ADD COLUMN IF NOT EXISTS language text,
    ADD COLUMN IF NOT EXISTS status text NOT NULL DEFAULT 'pending',
    ADD COLUMN IF NOT EXISTS created_at timestamptz NOT NULL DEFAULT now(),
    ADD COLUMN IF NOT EXISTS updated_at timestamptz NOT NULL DEFAULT now();

-- ocr_queue: one row per processing run of a document.
CREATE TABLE IF NOT EXISTS ocr_queue (
    id uuid PRIMARY KEY DEFAULT gen_random_uuid()
);
ALTER TABLE ocr_queue
    ADD COLUMN IF NOT EXISTS document_id uuid NOT NULL
        REFERENCES documents (id) ON DELETE CASCADE,
    ADD COLUMN IF NOT EXISTS status text NOT NULL DEFAULT 'queued',
    ADD COLUMN IF NOT EXISTS priority integer NOT NULL DEFAULT 5,
    ADD COLUMN IF NOT EXISTS attempts integer NOT NULL DEFAULT 0,
    -- 1 + MAX_RETRIES (3 in the seed); a worker passing its own limit to get_next_ocr_job wins.
    ADD COLUMN IF NOT EXISTS max_attempts integer NOT NULL DEFAULT 4,
    ADD COLUMN IF NOT EXISTS error_message text,
    ADD COLUMN IF NOT EXISTS locked_by text,
    ADD COLUMN IF NOT EXISTS locked_until timestamptz,
    ADD COLUMN IF NOT EXISTS claim_token uuid,
    ADD COLUMN IF NOT EXISTS run_after timestamptz NOT NULL DEFAULT now(),
    ADD COLUMN IF NOT EXISTS created_at timestamptz NOT NULL DEFAULT now(),
    ADD COLUMN IF NOT EXISTS started_at timestamptz,
    ADD COLUMN IF NOT EXISTS completed_at timestamptz,
    ADD COLUMN IF NOT EXISTS updated_at timestamptz NOT NULL DEFAULT now();

-- The seed's own checks (default names) may not know 'cancelled'; NOT VALID leaves odd legacy
-- rows alone while every new write is checked.
ALTER TABLE ocr_queue DROP CONSTRAINT IF EXISTS ocr_queue_status_check;
ALTER TABLE ocr_queue ADD CONSTRAINT ocr_queue_status_check
    CHECK (status IN ('queued', 'processing', 'completed', 'failed', 'cancelled')) NOT VALID;
ALTER TABLE ocr_queue DROP CONSTRAINT IF EXISTS ocr_queue_priority_check;
ALTER TABLE ocr_queue ADD CONSTRAINT ocr_queue_priority_check
    CHECK (priority BETWEEN 1 AND 10) NOT VALID;
ALTER TABLE ocr_queue DROP CONSTRAINT IF EXISTS ocr_queue_attempts_check;
ALTER TABLE ocr_queue ADD CONSTRAINT ocr_queue_attempts_check
    CHECK (attempts >= 0 AND max_attempts >= 1) NOT VALID;

-- Before the one-active-job index can exist, older duplicates left by the seed's poller go.
UPDATE ocr_queue q
SET status = 'cancelled',
    error_message = 'duplicate active job cancelled by kairo-ray migration 0001',
    completed_at = now(),
    updated_at = now()
FROM (
    SELECT id,
           row_number() OVER (
               PARTITION BY document_id
               ORDER BY (status = 'processing') DESC, created_at DESC
           ) AS rank
    FROM ocr_queue
    WHERE status IN ('queued', 'processing')
) dup
WHERE q.id = dup.id AND dup.rank > 1;

CREATE UNIQUE INDEX IF NOT EXISTS ocr_queue_one_active_job
    ON ocr_queue (document_id) WHERE status IN ('queued', 'processing');
CREATE INDEX IF NOT EXISTS ocr_queue_claim_order
    ON ocr_queue (priority DESC, created_at) WHERE status IN ('queued', 'processing');
CREATE INDEX IF NOT EXISTS ocr_queue_document_recent
    ON ocr_queue (document_id, created_at DESC);
CREATE INDEX IF NOT EXISTS ocr_queue_status_completed
    ON ocr_queue (status, completed_at);

-- document_pages: the text of every page with line boxes, so a page can be shown or re-embedded
-- without running OCR again. lines: [{"text", "box": [x0, y0, x1, y1], "confidence"}].
CREATE TABLE IF NOT EXISTS document_pages (
    document_id uuid NOT NULL REFERENCES documents (id) ON DELETE CASCADE,
    page_number integer NOT NULL CHECK (page_number >= 1),
    text text NOT NULL DEFAULT '',
    lines jsonb NOT NULL DEFAULT '[]'::jsonb,
    mean_confidence double precision,
    source text NOT NULL DEFAULT 'ocr' CHECK (source IN ('ocr', 'text_layer')),
    rotation integer NOT NULL DEFAULT 0,
    width integer NOT NULL DEFAULT 0,
    height integer NOT NULL DEFAULT 0,
    created_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (document_id, page_number)
);

-- document_embeddings: one row per chunk. The seed's table had no uniqueness on
-- (document_id, chunk_index) and may hold duplicates from re-runs, so the index is not unique.
CREATE TABLE IF NOT EXISTS document_embeddings (
    id uuid PRIMARY KEY DEFAULT gen_random_uuid()
);
ALTER TABLE document_embeddings
    ADD COLUMN IF NOT EXISTS document_id uuid NOT NULL
        REFERENCES documents (id) ON DELETE CASCADE,
    ADD COLUMN IF NOT EXISTS chunk_index integer NOT NULL DEFAULT 0,
    ADD COLUMN IF NOT EXISTS chunk_text text NOT NULL DEFAULT '',
    ADD COLUMN IF NOT EXISTS chunk_length integer,
    ADD COLUMN IF NOT EXISTS embedding vector(384),
    ADD COLUMN IF NOT EXISTS content_hash text,
    ADD COLUMN IF NOT EXISTS page_start integer,
    ADD COLUMN IF NOT EXISTS page_end integer,
    ADD COLUMN IF NOT EXISTS char_start integer,
    ADD COLUMN IF NOT EXISTS char_end integer,
    ADD COLUMN IF NOT EXISTS created_at timestamptz NOT NULL DEFAULT now();

CREATE INDEX IF NOT EXISTS document_embeddings_document_chunk
    ON document_embeddings (document_id, chunk_index);
CREATE INDEX IF NOT EXISTS document_embeddings_embedding_hnsw
    ON document_embeddings USING hnsw (embedding vector_cosine_ops);

-- Queue status changes: documents.status follows its latest job, and a job that becomes
-- queued wakes idle pollers (LISTEN kairo_ocr_queue) at once instead of after POLL_INTERVAL.
CREATE OR REPLACE FUNCTION kairo_ocr_queue_changed() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'UPDATE' AND OLD.status IS NOT DISTINCT FROM NEW.status THEN
        RETURN NULL;
    END IF;
    UPDATE documents d
    SET status = NEW.status, updated_at = now()
    WHERE d.id = NEW.document_id AND d.status IS DISTINCT FROM NEW.status;
    IF NEW.status = 'queued' THEN
        PERFORM pg_notify('kairo_ocr_queue', NEW.id::text);
    END IF;
    RETURN NULL;
END;
$$;

DROP TRIGGER IF EXISTS kairo_ocr_queue_status ON ocr_queue;
CREATE TRIGGER kairo_ocr_queue_status
    AFTER INSERT OR UPDATE OF status ON ocr_queue
    FOR EACH ROW EXECUTE FUNCTION kairo_ocr_queue_changed();

-- The seed's auto_queue_trigger, replaced under its own name so a document is never queued twice.
CREATE OR REPLACE FUNCTION kairo_auto_queue_document() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO ocr_queue (document_id)
    VALUES (NEW.id)
    ON CONFLICT (document_id) WHERE status IN ('queued', 'processing') DO NOTHING;
    RETURN NULL;
END;
$$;

DROP TRIGGER IF EXISTS auto_queue_trigger ON documents;
CREATE TRIGGER auto_queue_trigger
    AFTER INSERT ON documents
    FOR EACH ROW EXECUTE FUNCTION kairo_auto_queue_document();

-- Claim the next job. Highest priority first, then oldest. Claims queued jobs that are due and
-- processing jobs whose lease ran out (their worker died); a lapsed job that already used all its
-- attempts is failed instead. Every claim gets a new claim_token that fences later writes.
-- The seed's one-argument get_next_ocr_job(text) is dropped: beside this one it would make
-- get_next_ocr_job('vps-01') ambiguous; that call now resolves here through the defaults.
DROP FUNCTION IF EXISTS get_next_ocr_job(text);
DROP FUNCTION IF EXISTS get_next_ocr_job(text, integer);
DROP FUNCTION IF EXISTS get_next_ocr_job(text, integer, integer);
CREATE FUNCTION get_next_ocr_job(
    instance_id text,
    lease_seconds integer DEFAULT 900,
    attempt_limit integer DEFAULT NULL
)
RETURNS TABLE (
    queue_id uuid,
    document_id uuid,
    file_url text,
    file_type text,
    priority integer,
    attempts integer,
    claim_token uuid,
    locked_until timestamptz
)
LANGUAGE plpgsql AS $$
#variable_conflict use_column
DECLARE
    v_id uuid;
BEGIN
    UPDATE ocr_queue q
    SET status = 'failed',
        error_message = format(
            'lease expired: %s stopped heart-beating; gave up after %s attempts',
            coalesce(q.locked_by, 'a worker'), q.attempts),
        locked_until = NULL,
        completed_at = now(),
        updated_at = now()
    WHERE q.id IN (
        SELECT x.id FROM ocr_queue x
        WHERE x.status = 'processing'
          AND x.locked_until < now()
          AND x.attempts >= coalesce(attempt_limit, x.max_attempts)
        FOR UPDATE SKIP LOCKED
    );

    SELECT q.id INTO v_id
    FROM ocr_queue q
    WHERE (q.status = 'queued' AND q.run_after <= now())
       OR (q.status = 'processing'
           AND q.locked_until < now()
           AND q.attempts < coalesce(attempt_limit, q.max_attempts))
    ORDER BY q.priority DESC, q.created_at, q.id
    LIMIT 1
    FOR UPDATE SKIP LOCKED;

    IF v_id IS NULL THEN
        RETURN;
    END IF;

    UPDATE ocr_queue q
    SET error_message = CASE WHEN q.status = 'processing'
            THEN format('lease of %s expired during attempt %s', q.locked_by, q.attempts)
            ELSE q.error_message END,
        status = 'processing',
        attempts = q.attempts + 1,
        max_attempts = coalesce(attempt_limit, q.max_attempts),
        locked_by = instance_id,
        locked_until = now() + make_interval(secs => lease_seconds),
        claim_token = gen_random_uuid(),
        started_at = now(),
        completed_at = NULL,
        updated_at = now()
    WHERE q.id = v_id;

    RETURN QUERY
    SELECT q.id, q.document_id, d.file_url, d.file_type, q.priority, q.attempts,
           q.claim_token, q.locked_until
    FROM ocr_queue q
    JOIN documents d ON d.id = q.document_id
    WHERE q.id = v_id;
END;
$$;

-- Extend the lease. NULL means this worker lost the job (expired and re-claimed, cancelled,
-- or failed): it must stop and write nothing.
CREATE OR REPLACE FUNCTION ocr_job_heartbeat(
    p_queue_id uuid, p_instance_id text, p_claim_token uuid, p_lease_seconds integer
) RETURNS timestamptz
LANGUAGE sql AS $$
    UPDATE ocr_queue
    SET locked_until = now() + make_interval(secs => p_lease_seconds), updated_at = now()
    WHERE id = p_queue_id
      AND status = 'processing'
      AND locked_by = p_instance_id
      AND claim_token = p_claim_token
    RETURNING locked_until;
$$;

-- Record a failure. Permanent: failed at once. Transient: back to queued after
-- base * 2^(attempts-1) seconds (capped), until attempts reach max_attempts, then failed.
-- The error is always kept. Returns the new status, or NULL when the claim is no longer held.
CREATE OR REPLACE FUNCTION ocr_job_fail(
    p_queue_id uuid,
    p_instance_id text,
    p_claim_token uuid,
    p_error text,
    p_permanent boolean,
    p_backoff_seconds double precision DEFAULT 30,
    p_max_backoff_seconds double precision DEFAULT 3600
) RETURNS text
LANGUAGE plpgsql AS $$
DECLARE
    v_job ocr_queue%ROWTYPE;
    v_delay double precision;
BEGIN
    SELECT * INTO v_job FROM ocr_queue
    WHERE id = p_queue_id
      AND status = 'processing'
      AND locked_by = p_instance_id
      AND claim_token = p_claim_token
    FOR UPDATE;
    IF NOT FOUND THEN
        RETURN NULL;
    END IF;

    IF p_permanent OR v_job.attempts >= v_job.max_attempts THEN
        UPDATE ocr_queue
        SET status = 'failed',
            error_message = CASE WHEN p_permanent THEN p_error
                ELSE format('%s (gave up after %s attempts)', p_error, v_job.attempts) END,
            locked_until = NULL,
            completed_at = now(),
            updated_at = now()
        WHERE id = p_queue_id;
        RETURN 'failed';
    END IF;

    v_delay := least(p_backoff_seconds * power(2, greatest(v_job.attempts - 1, 0)),
                     p_max_backoff_seconds);
    UPDATE ocr_queue
    SET status = 'queued',
        error_message = p_error,
        locked_by = NULL,
        locked_until = NULL,
        claim_token = NULL,
        run_after = now() + make_interval(secs => v_delay),
        updated_at = now()
    WHERE id = p_queue_id;
    RETURN 'queued';
END;
$$;

-- Cancel a queued or running job. A worker holding it sees the lease lost at its next heartbeat.
CREATE OR REPLACE FUNCTION ocr_job_cancel(p_queue_id uuid, p_reason text DEFAULT NULL)
RETURNS boolean
LANGUAGE sql AS $$
    WITH cancelled AS (
        UPDATE ocr_queue
        SET status = 'cancelled',
            error_message = coalesce(p_reason, 'cancelled'),
            locked_until = NULL,
            completed_at = now(),
            updated_at = now()
        WHERE id = p_queue_id AND status IN ('queued', 'processing')
        RETURNING 1
    )
    SELECT EXISTS (SELECT 1 FROM cancelled);
$$;

-- Run a finished job (failed, cancelled or completed) again from scratch. False when the job is
-- not finished or its document already has another active job.
CREATE OR REPLACE FUNCTION ocr_job_requeue(p_queue_id uuid, p_priority integer DEFAULT NULL)
RETURNS boolean
LANGUAGE plpgsql AS $$
BEGIN
    UPDATE ocr_queue
    SET status = 'queued',
        priority = coalesce(p_priority, priority),
        attempts = 0,
        error_message = NULL,
        locked_by = NULL,
        locked_until = NULL,
        claim_token = NULL,
        run_after = now(),
        started_at = NULL,
        completed_at = NULL,
        updated_at = now()
    WHERE id = p_queue_id AND status IN ('failed', 'cancelled', 'completed');
    RETURN FOUND;
EXCEPTION WHEN unique_violation THEN
    RETURN false;
END;
$$;

-- Queue a document. If it already has an active job, that job is returned (its priority raised
-- to p_priority if higher). No row when the document does not exist.
CREATE OR REPLACE FUNCTION ocr_job_enqueue(p_document_id uuid, p_priority integer DEFAULT 5)
RETURNS TABLE (queue_id uuid, status text, created boolean)
LANGUAGE plpgsql AS $$
#variable_conflict use_column
DECLARE
    v_id uuid;
    v_status text;
BEGIN
    IF NOT EXISTS (SELECT 1 FROM documents d WHERE d.id = p_document_id) THEN
        RETURN;
    END IF;
    LOOP
        INSERT INTO ocr_queue AS q (document_id, priority)
        VALUES (p_document_id, p_priority)
        ON CONFLICT (document_id) WHERE status IN ('queued', 'processing') DO NOTHING
        RETURNING q.id, q.status INTO v_id, v_status;
        IF v_id IS NOT NULL THEN
            RETURN QUERY SELECT v_id, v_status, true;
            RETURN;
        END IF;

        UPDATE ocr_queue q
        SET priority = greatest(q.priority, p_priority), updated_at = now()
        WHERE q.document_id = p_document_id AND q.status IN ('queued', 'processing')
        RETURNING q.id, q.status INTO v_id, v_status;
        IF v_id IS NOT NULL THEN
            RETURN QUERY SELECT v_id, v_status, false;
            RETURN;
        END IF;
    END LOOP;
END;
$$;
