-- 0003: safe on Supabase, where the web app's public anon key reaches every table and function
-- in `public` through the REST API (as the roles anon and authenticated).
--
-- * Row-level security on every table kairo-ray creates (ocr_queue, document_pages,
--   document_embeddings, kairo_schema_migrations). anon and authenticated get no policy on
--   them, so they read no row; kairo-ray's own role (the one migrating) keeps a policy of its
--   own, whatever its BYPASSRLS. TRUNCATE is outside RLS, so their table privileges go too.
-- * Where Supabase's auth.uid() and the owner column of documents exist, authenticated users
--   may read the pages and chunks of their own documents. documents itself is Kairo's table:
--   its policies stay Kairo's.
-- * EXECUTE on kairo-ray's functions is revoked from PUBLIC, anon and authenticated (Supabase's
--   default privileges grant it to those roles explicitly). A later migration that drops and
--   creates one of these functions must revoke again.
-- * The trigger functions run as their owner (SECURITY DEFINER): a document inserted by the web
--   app's role must still queue its job in ocr_queue, which that role cannot write. Every
--   function gets a fixed search_path, so no caller's schema can shadow a table it uses.
--
-- The owner column is DOCUMENTS_OWNER_COLUMN, handed in by migrate.py as the setting
-- kairo_ray.owner_column (default user_id); it is added as uuid when documents lacks it.

DO $$
DECLARE
    owner_column text := coalesce(nullif(current_setting('kairo_ray.owner_column', true), ''),
                                  'user_id');
    schema_name text := current_schema();
    me text := current_user;
    supabase_roles text[] := ARRAY(
        SELECT rolname::text FROM pg_roles WHERE rolname IN ('anon', 'authenticated')
    );
    t text;
    r text;
    f regprocedure;
BEGIN
    EXECUTE format('ALTER TABLE documents ADD COLUMN IF NOT EXISTS %I uuid', owner_column);
    EXECUTE format('CREATE INDEX IF NOT EXISTS documents_owner ON documents (%I)', owner_column);

    FOREACH t IN ARRAY ARRAY['ocr_queue', 'document_pages', 'document_embeddings',
                             'kairo_schema_migrations'] LOOP
        EXECUTE format('ALTER TABLE %I ENABLE ROW LEVEL SECURITY', t);
        EXECUTE format('DROP POLICY IF EXISTS kairo_ray_service ON %I', t);
        EXECUTE format(
            'CREATE POLICY kairo_ray_service ON %I FOR ALL TO %I USING (true) WITH CHECK (true)',
            t, me);
        EXECUTE format('REVOKE ALL ON %I FROM PUBLIC', t);
        FOREACH r IN ARRAY supabase_roles LOOP
            EXECUTE format('REVOKE ALL ON %I FROM %I', t, r);
        END LOOP;
    END LOOP;

    IF to_regprocedure('auth.uid()') IS NOT NULL
       AND 'authenticated' = ANY (supabase_roles) THEN
        FOREACH t IN ARRAY ARRAY['document_pages', 'document_embeddings'] LOOP
            EXECUTE format('GRANT SELECT ON %I TO authenticated', t);
            EXECUTE format('DROP POLICY IF EXISTS kairo_ray_owner_read ON %I', t);
            EXECUTE format(
                'CREATE POLICY kairo_ray_owner_read ON %I FOR SELECT TO authenticated USING '
                '(EXISTS (SELECT 1 FROM documents d WHERE d.id = document_id '
                'AND d.%I::text = auth.uid()::text))',
                t, owner_column);
        END LOOP;
    END IF;

    FOR f IN
        SELECT p.oid::regprocedure
        FROM pg_proc p
        WHERE p.pronamespace = schema_name::regnamespace
          AND (p.proname IN ('get_next_ocr_job', 'kairo_ocr_queue_changed',
                             'kairo_auto_queue_document')
               OR p.proname LIKE 'ocr\_job\_%')
    LOOP
        EXECUTE format('REVOKE EXECUTE ON FUNCTION %s FROM PUBLIC', f);
        FOREACH r IN ARRAY supabase_roles LOOP
            EXECUTE format('REVOKE EXECUTE ON FUNCTION %s FROM %I', f, r);
        END LOOP;
        EXECUTE format('ALTER FUNCTION %s SET search_path = %I, pg_temp', f, schema_name);
    END LOOP;

    FOREACH t IN ARRAY ARRAY['kairo_ocr_queue_changed()', 'kairo_auto_queue_document()'] LOOP
        EXECUTE format('ALTER FUNCTION %s SECURITY DEFINER', t);
    END LOOP;
END;
$$;
