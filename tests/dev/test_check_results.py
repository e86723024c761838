"""What ``dbtui check`` reads and finds on a generated schema of every kind of table, pinned as a snapshot, so speed
work on the catalog, the source map and the rules can never change a result: the findings (rule, file:line,
message, fix), the coverage, and the catalog model itself (every field codegen and the Schema tab read).

Regenerate only for an intended change: ``pytest tests/dev/test_check_results.py --snapshot-update``."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from syrupy.assertion import SnapshotAssertion
from syrupy.extensions.json import JSONSnapshotExtension
from test_conventions import BASE as RULES_BASE
from test_conventions import GOOD

from database.config import Project
from database.dev import testdb
from database.dev.catalog import Catalog, read_catalog
from database.dev.conventions import check

pytestmark = pytest.mark.pinned_server  # deparsed texts (defaults, checks, index definitions) are the server's

BASE = (
    RULES_BASE
    + """\
CREATE FUNCTION fixed_label() RETURNS TEXT LANGUAGE sql IMMUTABLE RETURN 'label';
CREATE TYPE mood AS ENUM ('sad', 'ok', 'happy');
CREATE SCHEMA billing;
CREATE TABLE billing.accounts (id TEXT COLLATE "C" PRIMARY KEY, plan TEXT NOT NULL, code TEXT);
"""
)

# One table per entry, each a conforming table with one change (or none): every rule breaks somewhere, and the
# catalog meets every shape it reads (arrays, typmods, generated columns, expression/partial/covering indexes,
# deferrable and cross-schema foreign keys, exclusion constraints, disabled triggers, policy roles and commands).
VARIANTS: list[tuple[str, str]] = [
    ("", ""),
    ("    count BIGINT", "    count INTEGER"),
    ("    count BIGINT", "    count SERIAL"),
    ("    count BIGINT", "    count SMALLINT[]"),
    ("    seen_at TIMESTAMPTZ", "    seen_at TIMESTAMP"),
    ("    seen_at TIMESTAMPTZ", "    seen_at TIMESTAMP(3)[]"),
    ("CREATE INDEX ON {t}(organization_id);\n", ""),
    ("CREATE INDEX ON {t}(organization_id);\n", "CREATE INDEX ON {t}(organization_id) WHERE count > 0;\n"),
    ("CREATE INDEX ON {t}(organization_id);\n", "CREATE INDEX ON {t}(name, organization_id);\n"),
    ('    vendor_extid TEXT COLLATE "C"', "    vendor_id TEXT"),
    ('    vendor_extid TEXT COLLATE "C"', "    vendor_extid VARCHAR(40)"),
    ("ALTER TABLE {t} ENABLE ROW LEVEL SECURITY;\n", ""),
    ("CREATE POLICY access ON {t} USING (organization_id = current_setting('app.organization_id', true));\n", ""),
    ("DEFAULT generate_id('{p}') ", ""),
    ("DEFAULT generate_id('{p}') ", "DEFAULT gen_random_uuid()::text "),
    ("CHECK (id LIKE '{p}_%')", "CHECK (id LIKE 'zzz_%')"),
    ("CHECK (id LIKE '{p}_%')", "CHECK (length(id) > 4)"),
    ("id TEXT COLLATE \"C\" PRIMARY KEY DEFAULT generate_id('{p}') CHECK (id LIKE '{p}_%')", "id UUID PRIMARY KEY"),
    ('id TEXT COLLATE "C" PRIMARY KEY', 'id TEXT COLLATE "C" UNIQUE'),
    ('id TEXT COLLATE "C" PRIMARY KEY', "id TEXT PRIMARY KEY"),
    ("    created_at TIMESTAMPTZ NOT NULL DEFAULT now(),\n", ""),
    ("created_at TIMESTAMPTZ NOT NULL DEFAULT now()", "created_at TIMESTAMP DEFAULT clock_timestamp()"),
    ("updated_at TIMESTAMPTZ NOT NULL DEFAULT now()", "updated_at TIMESTAMPTZ NOT NULL DEFAULT CURRENT_TIMESTAMP"),
    ("BEFORE UPDATE ON {t}", "AFTER UPDATE ON {t}"),
    ("FOR EACH ROW EXECUTE", "FOR EACH STATEMENT EXECUTE"),
    ("    storytime JSONB,\n", ""),
    ("    storytime JSONB", "    storytime JSON"),
    ("ON DELETE CASCADE", "ON DELETE SET NULL"),
    (
        '    organization_id TEXT COLLATE "C" NOT NULL REFERENCES organizations(id) ON DELETE CASCADE',
        '    organization_id TEXT COLLATE "C"',
    ),
    ("    name TEXT NOT NULL", "    name TEXT NOT NULL DEFAULT fixed_label(),\n    price NUMERIC(12, 2) DEFAULT 0"),
    ("    name TEXT NOT NULL", "    name TEXT NOT NULL,\n    doubled BIGINT GENERATED ALWAYS AS (count * 2) STORED"),
    ("    name TEXT NOT NULL", "    name TEXT NOT NULL,\n    mood mood DEFAULT 'ok',\n    tags TEXT[] DEFAULT '{{}}'"),
    (
        "    name TEXT NOT NULL",
        '    name TEXT NOT NULL,\n    account_id TEXT COLLATE "C" REFERENCES billing.accounts(id)',
    ),
    (
        "    name TEXT NOT NULL",
        '    name TEXT NOT NULL,\n    account_id TEXT COLLATE "C" REFERENCES billing.accounts(id)'
        " ON UPDATE CASCADE DEFERRABLE INITIALLY DEFERRED",
    ),
    ("CREATE INDEX ON {t}(organization_id);\n", "CREATE INDEX ON {t}(organization_id DESC) INCLUDE (name);\n"),
    ("CREATE INDEX ON {t}(organization_id);\n", "CREATE INDEX ON {t}(organization_id, lower(name));\n"),
    ("CREATE INDEX ON {t}(organization_id);\n", "CREATE INDEX ON {t} USING hash (organization_id);\n"),
    ("    name TEXT NOT NULL", "    name TEXT NOT NULL,\n    EXCLUDE USING btree (name WITH =)"),
    ("    name TEXT NOT NULL", "    name TEXT NOT NULL CHECK (name <> '') CHECK (length(name) < 200)"),
    ("    name TEXT NOT NULL", "    name TEXT NOT NULL UNIQUE,\n    UNIQUE (organization_id, count)"),
    (
        "FOR EACH ROW EXECUTE PROCEDURE updated_at();\n",
        "FOR EACH ROW EXECUTE PROCEDURE updated_at();\nALTER TABLE {t} DISABLE TRIGGER updated_at;\n",
    ),
    ("USING (organization_id", "FOR SELECT TO pg_monitor, public USING (organization_id"),
    ("USING (organization_id", "AS RESTRICTIVE FOR UPDATE USING (true) WITH CHECK (organization_id"),
]


def table_sql(name: str, previous: str | None, variant: tuple[str, str]) -> str:
    """test_conventions' conforming table under another name, with a few more columns (and a parent), then changed."""
    prefix = name[:3]
    parent = f',\n    parent_id TEXT COLLATE "C" REFERENCES {previous}(id) ON DELETE CASCADE' if previous else ""
    parent_index = f"CREATE INDEX ON {name}(parent_id);\n" if previous else ""
    table = GOOD.split("\n", 1)[1].split("CREATE TABLE widget_kind_enum")[0]
    text = (
        table.replace("widgets", name)
        .replace("'wdg", f"'{prefix}")
        .replace(
            "    count BIGINT\n",
            f'    name TEXT NOT NULL,\n    count BIGINT,\n    seen_at TIMESTAMPTZ,\n    vendor_extid TEXT COLLATE "C"{parent}\n',
        )
        .replace(
            f"CREATE INDEX ON {name}(organization_id);\n", f"CREATE INDEX ON {name}(organization_id);\n{parent_index}"
        )
    )
    old, new = (part.format(t=name, p=prefix) for part in variant)
    assert old in text, (name, old)
    return text.replace(old, new, 1)


LATER = """\
-- depends: {previous}
ALTER TABLE t0001_items ADD COLUMN note TEXT;
ALTER TABLE t0001_items DROP COLUMN seen_at;
ALTER TABLE t0002_items RENAME COLUMN count TO total;
ALTER TABLE t0003_items RENAME TO renamed_items;
DROP TABLE t0008_items;
CREATE TABLE widget_kind_enum (value TEXT PRIMARY KEY);
CREATE TABLE bad_kind_enum (value TEXT PRIMARY KEY, label TEXT);
CREATE TABLE events (id BIGSERIAL PRIMARY KEY, happened_at TIMESTAMP, payload JSON) PARTITION BY RANGE (id);
CREATE TABLE events_1 PARTITION OF events FOR VALUES FROM (1) TO (1000);
CREATE VIEW item_names AS SELECT id, name FROM t0000_items;
CREATE MATERIALIZED VIEW item_counts AS SELECT organization_id, count(*) AS n FROM t0000_items GROUP BY 1;
"""

ANNOTATIONS = """\
tables:
  organizations:
    description: Tenants.
    columns:
      name: Display name.
  t0000_items:
    description: The conforming one.
    columns:
      name: A name.
      nope: Not a column.
  t0005_items:
    ignore:
      bigint: Counted by a legacy system.
      no-such-rule: Typo.
  gone_items:
    description: Dropped long ago.
"""


def write_project(root: Path) -> Project:
    (root / "pyproject.toml").write_text("[tool.dbtui]\n")
    (root / "schema_annotations.yaml").write_text(ANNOTATIONS)
    directory = root / "migrations"
    directory.mkdir()
    (directory / "0000_base.sql").write_text(BASE)
    previous_file, previous_table = "0000_base", None
    per_file = 8
    for start in range(0, len(VARIANTS), per_file):
        name = f"{start // per_file + 1:04d}_tables_{start}"
        body = [f"-- depends: {previous_file}\n"]
        for i in range(start, min(start + per_file, len(VARIANTS))):
            table = f"t{i:04d}_items"
            body.append(table_sql(table, previous_table if i % 3 else None, VARIANTS[i]))
            previous_table = table
        (directory / f"{name}.sql").write_text("".join(body))
        previous_file = name
    (directory / "0099_later.sql").write_text(LATER.format(previous=previous_file))
    return Project.load(root)


@pytest.fixture(scope="module")
def generated(server_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Project, str]]:
    project = write_project(tmp_path_factory.mktemp("generated"))
    url = testdb.create_database(migrations_dir=project.migrations, url=server_url)
    yield project, url
    testdb.drop_database(url)


@pytest.fixture
def json_snapshot(snapshot: SnapshotAssertion) -> SnapshotAssertion:
    return snapshot.use_extension(JSONSnapshotExtension)


def catalog_data(catalog: Catalog) -> dict:
    """Every field of the model but what only this database knows (oids), views and enums included."""
    data = catalog.to_dict()
    for table, raw in zip(data["tables"], catalog.tables.values(), strict=True):
        table["kind"], table["definition"] = raw.kind, raw.definition
    enums = [[e.schema, e.name, e.labels] for e in catalog.enums]
    return json.loads(json.dumps({"tables": data["tables"], "search_path": catalog.search_path, "enums": enums}))


def test_check_findings_are_unchanged(generated: tuple[Project, str], json_snapshot: SnapshotAssertion) -> None:
    """Exactly what ``dbtui check --database`` reports, cold and with the parse cache warm."""
    project, url = generated
    cold = check(project, url=url)
    warm = check(project, url=url)
    assert warm == cold
    assert len({f.rule for f in cold.findings}) >= 15  # the schema breaks (nearly) every rule
    assert cold.to_dict() == json_snapshot


def test_catalog_model_is_unchanged(generated: tuple[Project, str], json_snapshot: SnapshotAssertion) -> None:
    """The catalog codegen, the Schema tab and the rules share: every table, column, constraint, index, trigger and
    policy field, read every way a caller reads it (the widest read pinned, the others compared with it)."""
    _, url = generated
    widest = catalog_data(read_catalog(url, None, views=True))
    assert widest == json_snapshot
    public_tables = [t for t in widest["tables"] if t["schema"] == "public" and t["kind"] == "table"]
    default = catalog_data(read_catalog(url))
    assert default == {**widest, "tables": public_tables, "enums": [e for e in widest["enums"] if e[0] == "public"]}
    lean = catalog_data(read_catalog(url, policy_expressions=False))
    for table in default["tables"]:
        table["policies"] = [{**p, "using": None, "with_check": None} for p in table["policies"]]
    assert lean == default
