"""The runtime resolves its URL without importing tooling: the embedded cluster is a fallback tooling registers."""

import subprocess
import sys

PROBE = """
import sys
from database import config
before = "database.dev" in sys.modules
fallback = config._fallback()
print(before, f"{fallback.__module__}.{fallback.__name__}", "database.dev" in sys.modules)
"""


def test_the_embedded_cluster_comes_through_the_entry_point_only_when_needed():
    out = subprocess.run([sys.executable, "-c", PROBE], capture_output=True, text=True, check=True).stdout.split()
    assert out == ["False", "database.dev.server.development_url", "True"]


def test_importing_tooling_registers_it():
    """Without importing the server module: that is done when a URL is asked for (most tooling never asks)."""
    probe = (
        "import sys, database.dev; from database import config;"
        "print(config._fallback() is database.dev._development_url, 'database.dev.server' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True).stdout.split()
    assert out == ["True", "False"]
