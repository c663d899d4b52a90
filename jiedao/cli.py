"""The ``jiedao`` command: Django's manage.py under the project's name.

``jiedao migrate`` and every other management command work as with manage.py; the project's
own verbs (``serve``, ``demo``, ``audit verify``, ``backup``, ``restore``) are management
commands of its apps.
"""

import os
import sys


def main(argv: list[str] | None = None) -> int:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "jiedao.settings")
    from django.core.management import execute_from_command_line

    argv = list(sys.argv if argv is None else argv)
    argv[0] = "jiedao"
    execute_from_command_line(argv)
    return 0
