import pytest

from database.config import redact, scrub


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ('invalid dsn: "mysql://u:pa55@h/db"', 'invalid dsn: "mysql://u:***@h/db"'),
        ("postgresql://u:pa55@[::1/db", "postgresql://u:***@[::1/db"),
        ("host=x password=pa55 user=y", "host=x password=*** user=y"),
        ("password='a b\\' c' port=1", "password=*** port=1"),
        ("postgresql://postgres@/db?host=/tmp/x", "postgresql://postgres@/db?host=/tmp/x"),
    ],
)
def test_scrub_masks_passwords_in_any_text(text, expected):
    assert scrub(text) == expected


def test_redact_keeps_everything_but_the_password():
    assert redact("postgresql://app:pa55@db.example:5432/prod?sslmode=require") == (
        "postgresql://app:***@db.example:5432/prod?sslmode=require"
    )
    assert redact("postgresql://app@db/prod") == "postgresql://app@db/prod"
