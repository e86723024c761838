-- The example app's static queries. `dbtui codegen` compiles them into src/database/orm.py (see docs/codegen.md).

-- organizations ---------------------------------------------------------------------------------------------------

-- name: OrganizationsList :many
SELECT * FROM organizations ORDER BY created_at, id;

-- name: OrganizationGet :one
SELECT * FROM organizations WHERE id = $1;

-- name: OrganizationCreate :one
INSERT INTO organizations (name, billing_extid) VALUES (@name, sqlc.narg(billing_extid)) RETURNING *;

-- name: OrganizationUpdate :one
UPDATE organizations SET name = @name, billing_extid = sqlc.narg(billing_extid) WHERE id = @id RETURNING *;

-- name: OrganizationDelete :execrows
DELETE FROM organizations WHERE id = $1;

-- users -----------------------------------------------------------------------------------------------------------

-- name: UserGet :one
SELECT * FROM users WHERE id = $1;

-- name: UserGetByEmail :one
SELECT * FROM users WHERE email = sqlc.arg(email);

-- name: UserCreate :one
INSERT INTO users (email, name, auth_extid, storytime) VALUES ($1, $2, $3, $4) RETURNING *;

-- name: UserUpdate :one
UPDATE users SET name = @name, storytime = sqlc.narg(storytime) WHERE id = @id RETURNING *;

-- memberships -----------------------------------------------------------------------------------------------------

-- name: MembershipGet :one
SELECT * FROM memberships WHERE id = $1;

-- name: MembershipCreate :one
INSERT INTO memberships (organization_id, user_id, role) VALUES ($1, $2, $3) RETURNING *;

-- name: MembershipUpdateRole :exec
UPDATE memberships SET role = @role WHERE id = @id;

-- A join: each member of an organization with their user row embedded.
-- name: MembershipsWithUsers :many
SELECT sqlc.embed(m), u.email, u.name AS user_name
FROM memberships m JOIN users u ON u.id = m.user_id
WHERE m.organization_id = $1
ORDER BY u.email;

-- name: MembershipRoles :many
SELECT value FROM membership_role_enum ORDER BY value;

-- projects --------------------------------------------------------------------------------------------------------

-- name: ProjectGet :one
SELECT * FROM projects WHERE id = $1;

-- name: ProjectCreate :one
INSERT INTO projects (organization_id, name, status, owner_id, due_on, budget)
VALUES (@organization_id, @name, @status, sqlc.narg(owner_id), sqlc.narg(due_on), sqlc.narg(budget))
RETURNING *;

-- name: ProjectUpdate :one
UPDATE projects
SET name = @name, status = @status, owner_id = sqlc.narg(owner_id), due_on = sqlc.narg(due_on),
    budget = sqlc.narg(budget), task_count = @task_count
WHERE id = @id
RETURNING *;

-- name: ProjectsByIds :many
SELECT * FROM projects WHERE id IN (sqlc.slice(ids)) ORDER BY id;

-- name: ProjectsCreate :copyfrom
INSERT INTO projects (organization_id, name, status, due_on, budget) VALUES ($1, $2, $3, $4, $5);

-- An outer join: the owner's name is missing for projects without an owner.
-- name: ProjectsWithOwner :many
SELECT p.id, p.name, p.status, u.name AS owner_name, u.email AS owner_email
FROM projects p LEFT JOIN users u ON u.id = p.owner_id
WHERE p.organization_id = $1
ORDER BY p.name, p.id;

-- name: ProjectCountsByStatus :many
SELECT status, count(*) AS projects, coalesce(sum(budget), 0) AS budget, max(due_on) AS last_due_on
FROM projects
WHERE organization_id = $1
GROUP BY status
ORDER BY status;

-- name: ProjectArchive :execresult
UPDATE projects SET status = 'archived' WHERE id = $1;
