# Recipes from the seed README, calling dbtui. `just` itself comes with the dev extra (rust-just).

# apply all pending migrations to the development database
migrate:
    dbtui migrate

# a new migration (and its rollback file) depending on the current heads
new-migration NAME:
    dbtui new-migration {{NAME}}

# regenerate schema.sql and the typed ORM (src/database/orm.py)
codegen-db:
    dbtui codegen

# schema conventions and annotations
check:
    dbtui check

# the test suite, exactly as CI runs it
test:
    pytest

# the test suite on every core (pytest-xdist): 140 s instead of 211 s on a 2-core machine
test-parallel:
    pytest -n auto

# every benchmark against its peer; rewrites docs/benchmarks.md
bench:
    python -m bench
