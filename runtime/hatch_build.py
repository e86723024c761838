"""Build hook: the runtime wheel holds exactly the files of ../src/database that the tooling wheel excludes.

The exclusion patterns live once, in ../pyproject.toml (``[tool.hatch.build.targets.wheel] exclude``).
"""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Any

import pathspec
from hatchling.builders.hooks.plugin.interface import BuildHookInterface


class RuntimeFiles(BuildHookInterface):
    """Force-include the runtime's modules (not in an editable build: that one puts ../src on the path)."""

    def initialize(self, version: str, build_data: dict[str, Any]) -> None:
        if version == "editable":
            return
        repo = Path(self.root).resolve().parent
        tooling = tomllib.loads((repo / "pyproject.toml").read_text(encoding="utf-8"))
        excluded = pathspec.GitIgnoreSpec.from_lines(tooling["tool"]["hatch"]["build"]["targets"]["wheel"]["exclude"])
        package = repo / "src" / "database"
        build_data["force_include"] = {
            str(path): f"database/{path.name}"
            for path in sorted(package.iterdir())
            if path.is_file() and excluded.match_file(path.relative_to(repo).as_posix())
        }
