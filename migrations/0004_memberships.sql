-- depends: 0003_organizations_users

CREATE TABLE membership_role_enum (value TEXT PRIMARY KEY);
INSERT INTO membership_role_enum (value) VALUES ('owner'), ('admin'), ('member');

CREATE TABLE memberships (
    id TEXT COLLATE "C" PRIMARY KEY DEFAULT generate_id('mem') CHECK (id LIKE 'mem_%'),
    created_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    updated_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    storytime JSONB,
    organization_id TEXT COLLATE "C" NOT NULL REFERENCES organizations(id) ON DELETE CASCADE,
    user_id TEXT COLLATE "C" NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    role TEXT NOT NULL DEFAULT 'member' REFERENCES membership_role_enum(value),
    UNIQUE (organization_id, user_id)
);
CREATE TRIGGER updated_at BEFORE UPDATE ON memberships FOR EACH ROW EXECUTE PROCEDURE updated_at();
CREATE INDEX ON memberships(user_id);
CREATE INDEX ON memberships(role);
