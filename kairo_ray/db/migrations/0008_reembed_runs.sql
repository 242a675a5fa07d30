-- 0008: re-embedding runs. After EMBEDDINGS_MODEL changes, the stored chunks are embedded again
-- into the new model's vector space (kairo_ray/app/reembed.py). One row per target space says
-- who is doing it and how far it is:
--
-- * holder / locked_until: a lease, as a queue claim's, so one driver (or one `kairo-ray
--   reembed --local`) at a time does it across every cluster on this database; a holder that
--   died is replaced once its lease runs out. No advisory lock: pgbouncer's transaction mode
--   cannot hold one across transactions.
-- * chunks_done / documents_done grow in the transaction that stores each document's vectors,
--   so they are exact after a crash; chunks_total is what was done plus what was left when the
--   run (re)started.
-- * previous_space is the space search answers from until completed_at is set: then the new
--   space is complete and search switches to it (for good: chunks a straggler writes later in
--   the old space are re-embedded in the background, search does not switch back).

CREATE TABLE IF NOT EXISTS kairo_reembed (
    space text PRIMARY KEY,
    previous_space text,
    state text NOT NULL DEFAULT 'running' CHECK (state IN ('running', 'failed', 'done')),
    chunks_total bigint NOT NULL DEFAULT 0 CHECK (chunks_total >= 0),
    chunks_done bigint NOT NULL DEFAULT 0 CHECK (chunks_done >= 0),
    documents_done bigint NOT NULL DEFAULT 0 CHECK (documents_done >= 0),
    errors integer NOT NULL DEFAULT 0 CHECK (errors >= 0),
    last_error text,
    holder text,
    locked_until timestamptz,
    started_at timestamptz NOT NULL DEFAULT now(),
    resumed_at timestamptz NOT NULL DEFAULT now(),
    resumed_chunks_done bigint NOT NULL DEFAULT 0,
    updated_at timestamptz NOT NULL DEFAULT now(),
    completed_at timestamptz
);

-- As 0003 does for the other tables: RLS on, a policy for kairo-ray's own role only, and no
-- privileges for PUBLIC, anon or authenticated.
DO $$
DECLARE
    r text;
BEGIN
    ALTER TABLE kairo_reembed ENABLE ROW LEVEL SECURITY;
    DROP POLICY IF EXISTS kairo_ray_service ON kairo_reembed;
    EXECUTE format(
        'CREATE POLICY kairo_ray_service ON kairo_reembed FOR ALL TO %I '
        'USING (true) WITH CHECK (true)', current_user);
    REVOKE ALL ON kairo_reembed FROM PUBLIC;
    FOR r IN SELECT rolname FROM pg_roles WHERE rolname IN ('anon', 'authenticated') LOOP
        EXECUTE format('REVOKE ALL ON kairo_reembed FROM %I', r);
    END LOOP;
END;
$$;
