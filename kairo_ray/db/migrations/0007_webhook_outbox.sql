-- 0007: the webhook outbox. A completed or finally failed job gets its webhook row in the
-- transaction that completes or fails it (store.complete, queue.fail), so a committed outcome
-- always has its callback and a rolled-back one never does; the driver's deliverer sends the
-- rows afterwards, at least once, and the table outlives any driver.
--
-- delivery_id is sent with every attempt (X-Kairo-Delivery and the body's delivery_id): a
-- receiver seeing it twice knows it is a retry of one event. A claim takes a row for a lease:
-- it moves next_attempt_at to the lease's end and sets a new claim_token, so another deliverer
-- sees the row again only when that one died mid-send. attempts counts claims, so a row whose
-- deliverer keeps dying still ends. A row ends delivered (delivered_at) or given up
-- (gave_up_at, the reason in last_error).

CREATE TABLE IF NOT EXISTS kairo_webhook_outbox (
    delivery_id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    document_id uuid NOT NULL REFERENCES documents (id) ON DELETE CASCADE,
    queue_id uuid NOT NULL REFERENCES ocr_queue (id) ON DELETE CASCADE,
    event text NOT NULL CHECK (event IN ('completed', 'failed')),
    payload jsonb NOT NULL,
    attempts integer NOT NULL DEFAULT 0 CHECK (attempts >= 0),
    next_attempt_at timestamptz NOT NULL DEFAULT now(),
    claim_token uuid,
    delivered_at timestamptz,
    gave_up_at timestamptz,
    last_error text,
    created_at timestamptz NOT NULL DEFAULT now()
);

-- The deliverers' scan: only rows still to send, soonest first.
CREATE INDEX IF NOT EXISTS kairo_webhook_outbox_due
    ON kairo_webhook_outbox (next_attempt_at)
    WHERE delivered_at IS NULL AND gave_up_at IS NULL;
CREATE INDEX IF NOT EXISTS kairo_webhook_outbox_queue
    ON kairo_webhook_outbox (queue_id);

-- As 0003 does for the other tables: RLS on, a policy for kairo-ray's own role only, and no
-- privileges for PUBLIC, anon or authenticated (payloads name documents and their errors).
DO $$
DECLARE
    r text;
BEGIN
    ALTER TABLE kairo_webhook_outbox ENABLE ROW LEVEL SECURITY;
    DROP POLICY IF EXISTS kairo_ray_service ON kairo_webhook_outbox;
    EXECUTE format(
        'CREATE POLICY kairo_ray_service ON kairo_webhook_outbox FOR ALL TO %I '
        'USING (true) WITH CHECK (true)', current_user);
    REVOKE ALL ON kairo_webhook_outbox FROM PUBLIC;
    FOR r IN SELECT rolname FROM pg_roles WHERE rolname IN ('anon', 'authenticated') LOOP
        EXECUTE format('REVOKE ALL ON kairo_webhook_outbox FROM %I', r);
    END LOOP;
END;
$$;
