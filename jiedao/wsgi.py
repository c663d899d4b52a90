import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "jiedao.settings")
application = get_wsgi_application()

from jiedao.core.gctune import tune  # noqa: E402 — after Django is set up
from jiedao.core.parent import exit_with_server  # noqa: E402

exit_with_server()  # a web worker of ``jiedao serve`` stops when granian is gone
tune()  # the collector leaves what start-up loaded alone (jiedao/core/gctune.py)
