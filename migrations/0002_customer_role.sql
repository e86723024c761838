-- depends: 0001_functions
-- The role customer connections log in as. It cannot bypass Row Level Security and is a member of no other role,
-- so RESET ROLE, SET ROLE and SET SESSION AUTHORIZATION cannot give it admin rights back.
-- Roles are cluster-wide (every test database shares them), so create it idempotently.

DO $$
BEGIN
    CREATE ROLE app_customer LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOINHERIT NOBYPASSRLS NOREPLICATION;
EXCEPTION WHEN duplicate_object THEN
    NULL;
END;
$$;

-- Who a customer connection acts for travels in three settings: app.user_id, app.organization_id and
-- app.identity_sig, a SHA-256 over both ids and a secret that only admin connections can read. A customer that
-- changes either id with set_config() breaks the signature, and the functions below then return NULL: it sees
-- nothing rather than another organization's rows.
CREATE SCHEMA app_private;
CREATE TABLE app_private.identity_secret (secret TEXT NOT NULL);
INSERT INTO app_private.identity_secret VALUES (md5(gen_random_uuid()::text) || md5(gen_random_uuid()::text));

CREATE FUNCTION app_private.identity_valid() RETURNS BOOLEAN
    LANGUAGE sql STABLE SECURITY DEFINER SET search_path = app_private, pg_catalog
    RETURN coalesce(current_setting('app.identity_sig', true) = (
        SELECT encode(sha256(convert_to(
            s.secret || chr(31) || current_setting('app.user_id', true) || chr(31)
            || current_setting('app.organization_id', true) || chr(31) || s.secret, 'UTF8')), 'hex')
        FROM app_private.identity_secret s
    ), false);

CREATE FUNCTION app_user_id() RETURNS TEXT
    LANGUAGE sql STABLE SECURITY DEFINER SET search_path = app_private, pg_catalog
    RETURN CASE WHEN app_private.identity_valid() THEN nullif(current_setting('app.user_id', true), '') END;

CREATE FUNCTION app_organization_id() RETURNS TEXT
    LANGUAGE sql STABLE SECURITY DEFINER SET search_path = app_private, pg_catalog
    RETURN CASE WHEN app_private.identity_valid() THEN nullif(current_setting('app.organization_id', true), '') END;
