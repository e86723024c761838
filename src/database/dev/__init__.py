"""Development tooling: migrations, codegen, conventions, the embedded server. Never imported by the runtime.

Importing it registers the embedded development cluster as the runtime's database URL of last resort
(``database.config.register_url_fallback``), so ``config.database_url()`` finds it without importing tooling.
"""

from database import config
from database.dev.server import development_url

config.register_url_fallback(development_url)
