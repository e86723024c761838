-- depends: 0006_row_level_security
-- Customer transactions may run any SQL an attacker chooses (an injection, a bug). What 0002 and 0006 left open,
-- closed here; docs/security.md explains each mechanism and tests/security/ attacks it.

-- 1. The identity is sealed to its backend and its transaction. The client proves it knows the secret with a
--    short-lived proof (a SHA-256 over the ids, the time it was issued and the secret) sent as a bound parameter, so
--    it appears in no query text; app_identity_seal() checks it and returns the seal that app.identity_sig holds for
--    the rest of the transaction. The seal covers pg_backend_pid() and the transaction's start, so a copy (made
--    session-level with set_config, or leaked and replayed on another connection) is worthless anywhere else.
CREATE FUNCTION app_private.seal(user_id TEXT, organization_id TEXT) RETURNS TEXT
    LANGUAGE sql STABLE
    RETURN (
        SELECT encode(sha256(convert_to(
            s.secret || chr(31) || 'seal' || chr(31) || user_id || chr(31) || organization_id || chr(31)
            || pg_catalog.pg_backend_pid() || chr(31)
            || (extract(epoch FROM pg_catalog.transaction_timestamp()) * 1000000)::bigint || chr(31) || s.secret,
            'UTF8')), 'hex')
        FROM app_private.identity_secret s
    );
REVOKE ALL ON FUNCTION app_private.seal(TEXT, TEXT) FROM PUBLIC;

CREATE OR REPLACE FUNCTION app_private.identity_valid() RETURNS BOOLEAN
    LANGUAGE sql STABLE SECURITY DEFINER SET search_path = app_private, pg_catalog
    RETURN coalesce(current_setting('app.identity_sig', true)
                    = app_private.seal(current_setting('app.user_id', true), current_setting('app.organization_id', true)),
                    false);

CREATE FUNCTION app_identity_seal(user_id TEXT, organization_id TEXT, issued_at BIGINT, proof TEXT) RETURNS TEXT
    LANGUAGE plpgsql SECURITY DEFINER SET search_path = app_private, pg_catalog AS $$
DECLARE
    secret TEXT := (SELECT s.secret FROM app_private.identity_secret s);
BEGIN
    IF proof IS DISTINCT FROM encode(sha256(convert_to(
            secret || chr(31) || 'proof' || chr(31) || user_id || chr(31) || organization_id || chr(31) || issued_at
            || chr(31) || secret, 'UTF8')), 'hex')
       OR abs(extract(epoch FROM now()) - issued_at) > 300 THEN
        RAISE EXCEPTION 'invalid or expired customer identity proof' USING ERRCODE = 'insufficient_privilege';
    END IF;
    RETURN app_private.seal(user_id, organization_id);
END;
$$;
REVOKE ALL ON FUNCTION app_identity_seal(TEXT, TEXT, BIGINT, TEXT) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION app_identity_seal(TEXT, TEXT, BIGINT, TEXT) TO app_customer;

-- 2. All customers share one login role, and PostgreSQL lets a role read the query text of its own sessions, signal
--    them, and read the large objects it owns (no Row Level Security there). Customers need none of it: revoke the
--    functions from PUBLIC (catalog ACLs are per database and survive CREATE DATABASE ... TEMPLATE), and give them
--    back to the role running the migrations, which is the admin role when that is not a superuser.
DO $$
DECLARE
    f REGPROCEDURE;
BEGIN
    FOR f IN
        SELECT p.oid::regprocedure FROM pg_proc p
        WHERE p.pronamespace = 'pg_catalog'::regnamespace
          AND p.proname NOT IN ('lo_import', 'lo_export')  -- superuser-only already
          AND (p.proname ~ '^(lo_|loread$|lowrite$|pg_stat_get_backend_)'
               OR p.proname IN ('pg_stat_get_activity', 'pg_lock_status', 'pg_blocking_pids',
                                'pg_safe_snapshot_blocking_pids', 'pg_terminate_backend', 'pg_cancel_backend'))
    LOOP
        EXECUTE format('REVOKE EXECUTE ON FUNCTION %s FROM PUBLIC', f);
        EXECUTE format('GRANT EXECUTE ON FUNCTION %s TO CURRENT_USER', f);
    END LOOP;
END;
$$;
REVOKE SELECT ON pg_catalog.pg_stat_activity, pg_catalog.pg_locks FROM PUBLIC;
GRANT SELECT ON pg_catalog.pg_stat_activity, pg_catalog.pg_locks TO CURRENT_USER;
