-- The role itself stays: other databases of the cluster may use it.
DROP FUNCTION app_organization_id();
DROP FUNCTION app_user_id();
DROP SCHEMA app_private CASCADE;
