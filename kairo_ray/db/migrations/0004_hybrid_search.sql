-- 0004: hybrid search (PostgreSQL full-text search fused with pgvector) and one vector space at
-- a time.
--
-- * document_embeddings.embedding_model names the vector space each vector lives in (the model
--   that made it, kairo_ray.processing.embed.embedding_space); a search compares vectors of its
--   own model's space only. Vectors stored before (the seed service's) have none: they are
--   never compared, and `kairo-ray reembed` replaces them from the stored chunk text.
-- * search_text: the chunk's words for full-text search, accents folded and lower-cased, stemmed
--   as Spanish and as English without either's stop words (names, amounts and ids stay as they
--   are), set by a trigger
--   in the same statement that writes the chunk (COPY included). kairo_search_query turns a
--   user's words into the same lexemes, OR-ed, so a query ranks chunks by how many of its words
--   they hold rather than requiring all of them. Built-in configurations only (no unaccent
--   extension, which neither pgserver nor every database has).
-- Everything here is instant on a table of any size (a nullable column, functions, a trigger):
-- filling search_text for chunks stored before and building its GIN index take minutes on a
-- large table, so migrate.py does them after this transaction, without a statement timeout
-- (build_search_index), as it builds the vector index.

ALTER TABLE document_embeddings ADD COLUMN IF NOT EXISTS embedding_model text;

CREATE OR REPLACE FUNCTION kairo_fold(t text) RETURNS text
LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE AS $$
    SELECT translate(lower(t), 'áàâäãåéèêëíìîïóòôöõúùûüñç', 'aaaaaaeeeeiiiiooooouuuunc')
$$;

CREATE OR REPLACE FUNCTION kairo_search_vector(t text) RETURNS tsvector
LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE AS $$
    SELECT to_tsvector('pg_catalog.spanish', kairo_fold(t))
        || to_tsvector('pg_catalog.english', kairo_fold(t))
$$;

CREATE OR REPLACE FUNCTION kairo_search_query(q text) RETURNS tsquery
LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE AS $$
    SELECT coalesce(
        to_tsquery('pg_catalog.simple', nullif(array_to_string(array(
            SELECT DISTINCT quote_literal(lexeme)
            FROM unnest(tsvector_to_array(kairo_search_vector(q))) AS lexeme
        ), ' | '), '')),
        ''::tsquery
    )
$$;

ALTER TABLE document_embeddings ADD COLUMN IF NOT EXISTS search_text tsvector;

CREATE OR REPLACE FUNCTION kairo_set_search_text() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    NEW.search_text := kairo_search_vector(NEW.chunk_text);
    RETURN NEW;
END;
$$;

DROP TRIGGER IF EXISTS kairo_search_text ON document_embeddings;
CREATE TRIGGER kairo_search_text
    BEFORE INSERT OR UPDATE OF chunk_text ON document_embeddings
    FOR EACH ROW EXECUTE FUNCTION kairo_set_search_text();

-- As migration 0003 does for the queue functions: no EXECUTE for Supabase's public roles, and a
-- fixed search_path.
DO $$
DECLARE
    f text;
    r text;
BEGIN
    FOREACH f IN ARRAY ARRAY['kairo_fold(text)', 'kairo_search_vector(text)',
                             'kairo_search_query(text)', 'kairo_set_search_text()'] LOOP
        EXECUTE format('REVOKE EXECUTE ON FUNCTION %s FROM PUBLIC', f);
        FOR r IN SELECT rolname FROM pg_roles WHERE rolname IN ('anon', 'authenticated') LOOP
            EXECUTE format('REVOKE EXECUTE ON FUNCTION %s FROM %I', f, r);
        END LOOP;
        EXECUTE format('ALTER FUNCTION %s SET search_path = %I, pg_catalog', f, current_schema());
    END LOOP;
END;
$$;
