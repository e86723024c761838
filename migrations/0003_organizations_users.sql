-- depends: 0002_customer_role

CREATE TABLE organizations (
    id TEXT COLLATE "C" PRIMARY KEY DEFAULT generate_id('org') CHECK (id LIKE 'org_%'),
    created_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    updated_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    storytime JSONB,
    name TEXT NOT NULL,
    billing_extid TEXT COLLATE "C"
);
CREATE TRIGGER updated_at BEFORE UPDATE ON organizations FOR EACH ROW EXECUTE PROCEDURE updated_at();

CREATE TABLE users (
    id TEXT COLLATE "C" PRIMARY KEY DEFAULT generate_id('usr') CHECK (id LIKE 'usr_%'),
    created_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    updated_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    storytime JSONB,
    email CITEXT NOT NULL UNIQUE,
    name TEXT NOT NULL,
    auth_extid TEXT COLLATE "C"
);
CREATE TRIGGER updated_at BEFORE UPDATE ON users FOR EACH ROW EXECUTE PROCEDURE updated_at();
