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

-- Who the customer connection acts for; xact_customer() sets both per transaction.
CREATE FUNCTION app_user_id() RETURNS TEXT
    LANGUAGE sql STABLE PARALLEL SAFE
    RETURN nullif(current_setting('app.user_id', true), '');

CREATE FUNCTION app_organization_id() RETURNS TEXT
    LANGUAGE sql STABLE PARALLEL SAFE
    RETURN nullif(current_setting('app.organization_id', true), '');
