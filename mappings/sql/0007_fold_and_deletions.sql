-- Dedupe and match_existing compare text case- and accent-folded: "José
-- Müller" and "jose muller" are the same name. unaccent is a trusted
-- extension shipped with PostgreSQL; migrate.fold finds it wherever it was
-- installed.
CREATE EXTENSION IF NOT EXISTS unaccent;

DO $do$
DECLARE
    ext_schema text;
BEGIN
    SELECT n.nspname INTO ext_schema
      FROM pg_extension e JOIN pg_namespace n ON n.oid = e.extnamespace
     WHERE e.extname = 'unaccent';
    EXECUTE format(
        $f$CREATE OR REPLACE FUNCTION migrate.fold(value text) RETURNS text
               LANGUAGE sql IMMUTABLE PARALLEL SAFE
               AS $body$ SELECT NULLIF(lower(regexp_replace(btrim(%1$I.unaccent(%2$L::regdictionary, value)),
                                                           '\s+', ' ', 'g')), '') $body$$f$,
        ext_schema, quote_ident(ext_schema) || '.unaccent');
END
$do$;

GRANT EXECUTE ON FUNCTION migrate.fold(text) TO platform_tenant;

-- on_missing = "delete": a deleted row has a before-image and an
-- after-image with no digest, so a rollback puts it back.
ALTER TABLE migrate.after_images ADD COLUMN IF NOT EXISTS deleted boolean NOT NULL DEFAULT false;
ALTER TABLE migrate.after_images ALTER COLUMN row_hash DROP NOT NULL;
