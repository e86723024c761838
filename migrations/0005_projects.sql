-- depends: 0003_organizations_users

CREATE TABLE project_status_enum (value TEXT PRIMARY KEY);
INSERT INTO project_status_enum (value) VALUES ('active'), ('paused'), ('archived');

CREATE TABLE projects (
    id TEXT COLLATE "C" PRIMARY KEY DEFAULT generate_id('prj') CHECK (id LIKE 'prj_%'),
    created_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    updated_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    storytime JSONB,
    organization_id TEXT COLLATE "C" NOT NULL REFERENCES organizations(id) ON DELETE CASCADE,
    name TEXT NOT NULL,
    status TEXT NOT NULL DEFAULT 'active' REFERENCES project_status_enum(value),
    owner_id TEXT COLLATE "C" REFERENCES users(id) ON DELETE SET NULL,
    due_on DATE,
    budget NUMERIC(12, 2),
    task_count BIGINT NOT NULL DEFAULT 0,
    repository_extid TEXT COLLATE "C"
);
CREATE TRIGGER updated_at BEFORE UPDATE ON projects FOR EACH ROW EXECUTE PROCEDURE updated_at();
CREATE INDEX ON projects(organization_id);
CREATE INDEX ON projects(status);
CREATE INDEX ON projects(owner_id);
