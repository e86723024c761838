REVOKE SELECT ON pg_catalog.pg_stat_activity, pg_catalog.pg_locks FROM CURRENT_USER;
GRANT SELECT ON pg_catalog.pg_stat_activity, pg_catalog.pg_locks TO PUBLIC;
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
        EXECUTE format('REVOKE EXECUTE ON FUNCTION %s FROM CURRENT_USER', f);
        EXECUTE format('GRANT EXECUTE ON FUNCTION %s TO PUBLIC', f);
    END LOOP;
END;
$$;
DROP FUNCTION app_identity_seal(TEXT, TEXT, BIGINT, TEXT);
CREATE OR REPLACE FUNCTION app_private.identity_valid() RETURNS BOOLEAN
    LANGUAGE sql STABLE SECURITY DEFINER SET search_path = app_private, pg_catalog
    RETURN coalesce(current_setting('app.identity_sig', true) = (
        SELECT encode(sha256(convert_to(
            s.secret || chr(31) || current_setting('app.user_id', true) || chr(31)
            || current_setting('app.organization_id', true) || chr(31) || s.secret, 'UTF8')), 'hex')
        FROM app_private.identity_secret s
    ), false);
DROP FUNCTION app_private.seal(TEXT, TEXT);
