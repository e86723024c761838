-- depends: 0004_memberships 0005_projects
-- What a customer connection (role app_customer, app.user_id and app.organization_id set) may see and change:
-- only rows of its organization, and only while its user is a member of it.

-- SECURITY DEFINER so the check reads memberships past its own policy. The policies wrap every function call in
-- (SELECT ...) so it runs once per statement, not once per row.
CREATE FUNCTION app_is_member() RETURNS BOOLEAN
    LANGUAGE sql STABLE SECURITY DEFINER SET search_path = public, pg_temp
    RETURN EXISTS (
        SELECT 1 FROM memberships
        WHERE user_id = app_user_id() AND organization_id = app_organization_id()
    );
REVOKE ALL ON FUNCTION app_is_member() FROM PUBLIC;
GRANT EXECUTE ON FUNCTION app_is_member() TO app_customer;

GRANT USAGE ON SCHEMA public TO app_customer;
GRANT SELECT ON membership_role_enum, project_status_enum TO app_customer;
GRANT SELECT, UPDATE ON organizations TO app_customer;
GRANT SELECT, UPDATE ON users TO app_customer;
-- Memberships are read-only to customers: adding a member is an admin action (a customer able to insert one could
-- add any user id and read that user's row through the users policy).
GRANT SELECT ON memberships TO app_customer;
GRANT SELECT, INSERT, UPDATE, DELETE ON projects TO app_customer;

ALTER TABLE organizations ENABLE ROW LEVEL SECURITY;
CREATE POLICY customer_access ON organizations TO app_customer
    USING (id = (SELECT app_organization_id()) AND (SELECT app_is_member()));

ALTER TABLE users ENABLE ROW LEVEL SECURITY;
CREATE POLICY customer_read ON users FOR SELECT TO app_customer
    USING ((SELECT app_is_member()) AND EXISTS (
        SELECT 1 FROM memberships m WHERE m.user_id = users.id AND m.organization_id = (SELECT app_organization_id())
    ));
CREATE POLICY customer_update_self ON users FOR UPDATE TO app_customer
    USING (id = (SELECT app_user_id()) AND (SELECT app_is_member()));

ALTER TABLE memberships ENABLE ROW LEVEL SECURITY;
CREATE POLICY customer_access ON memberships TO app_customer
    USING (organization_id = (SELECT app_organization_id()) AND (SELECT app_is_member()));

ALTER TABLE projects ENABLE ROW LEVEL SECURITY;
CREATE POLICY customer_access ON projects TO app_customer
    USING (organization_id = (SELECT app_organization_id()) AND (SELECT app_is_member()));

-- Customer connections are pooled, so nothing a customer creates may outlive its transaction for the next one to
-- meet: no DDL at all, temporary tables included (they would shadow real tables for the next customer).
-- A database-level REVOKE TEMPORARY would not survive cloning (CREATE DATABASE does not copy the ACL); this does.
CREATE FUNCTION app_private.forbid_customer_ddl() RETURNS event_trigger
    LANGUAGE plpgsql AS $$
BEGIN
    IF session_user = 'app_customer' THEN
        RAISE EXCEPTION 'permission denied: customer connections may not run %', tg_tag USING ERRCODE = 'insufficient_privilege';
    END IF;
END;
$$;
CREATE EVENT TRIGGER forbid_customer_ddl ON ddl_command_start EXECUTE FUNCTION app_private.forbid_customer_ddl();
