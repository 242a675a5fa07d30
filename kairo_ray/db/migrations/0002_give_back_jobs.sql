-- Give a claimed job back without spending an attempt: the worker stopped (kairo-ray down, a
-- deploy), the job did not fail. It is queued again at once, its attempt count as before the
-- claim, so stopping a cluster on a document's last attempt never fails that document. The
-- reason is kept in error_message. Returns the new status ('queued'), or NULL when the claim is
-- no longer held (nothing is written).
CREATE OR REPLACE FUNCTION ocr_job_release(
    p_queue_id uuid, p_instance_id text, p_claim_token uuid, p_reason text
) RETURNS text
LANGUAGE sql AS $$
    UPDATE ocr_queue
    SET status = 'queued',
        attempts = greatest(attempts - 1, 0),
        error_message = p_reason,
        locked_by = NULL,
        locked_until = NULL,
        claim_token = NULL,
        run_after = now(),
        updated_at = now()
    WHERE id = p_queue_id
      AND status = 'processing'
      AND locked_by = p_instance_id
      AND claim_token = p_claim_token
    RETURNING status;
$$;

-- End the leases an instance holds now, for its new driver: only a dead predecessor (a crashed
-- and restarted driver, a rebooted VPS) can hold them, and without this they wait out
-- JOB_TIMEOUT_MINUTES. The next claim takes them like any lapsed lease (the interrupted attempt
-- counts, so a document that keeps killing its driver still fails after max_attempts). Returns
-- how many leases were ended.
CREATE OR REPLACE FUNCTION ocr_job_end_leases(p_instance_id text) RETURNS integer
LANGUAGE sql AS $$
    WITH ended AS (
        UPDATE ocr_queue
        SET locked_until = now() - interval '1 second', updated_at = now()
        WHERE status = 'processing' AND locked_by = p_instance_id
        RETURNING 1
    )
    SELECT count(*)::integer FROM ended;
$$;
