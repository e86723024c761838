"""Development tooling: migrations, codegen, conventions, the embedded server. Never imported by the runtime.

Importing it registers the embedded development cluster as the runtime's database URL of last resort
(``database.config.register_url_fallback``), so ``config.database_url()`` finds it without importing tooling.
"""

from database import config
from database.config import Project


def _development_url(project: Project) -> str:
    """``server.development_url``, imported when a URL is needed: most tooling imports never ask for one."""
    from database.dev.server import development_url

    return development_url(project)


config.register_url_fallback(_development_url)
