-- 0005: which cluster holds each VPS_INSTANCE_ID, so a second cluster started with the same id
-- (.env.example's vps-01 copied to two VPSes, say) is refused at start instead of ending the
-- first one's leases as a dead predecessor's. A driver registers its Ray session under its id
-- and renews the row while it runs; another session may take the id only once the row has not
-- been renewed for a while (the first cluster is gone) or was released by a clean stop.

CREATE TABLE IF NOT EXISTS kairo_instances (
    instance_id text PRIMARY KEY,
    session text NOT NULL,
    host text,
    seen_at timestamptz NOT NULL DEFAULT now()
);

DO $$
DECLARE
    r text;
BEGIN
    ALTER TABLE kairo_instances ENABLE ROW LEVEL SECURITY;
    DROP POLICY IF EXISTS kairo_ray_service ON kairo_instances;
    EXECUTE format(
        'CREATE POLICY kairo_ray_service ON kairo_instances FOR ALL TO %I '
        'USING (true) WITH CHECK (true)', current_user);
    REVOKE ALL ON kairo_instances FROM PUBLIC;
    FOR r IN SELECT rolname FROM pg_roles WHERE rolname IN ('anon', 'authenticated') LOOP
        EXECUTE format('REVOKE ALL ON kairo_instances FROM %I', r);
    END LOOP;
END;
$$;
