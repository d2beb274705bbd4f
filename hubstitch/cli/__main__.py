"""``python -m hubstitch.cli``: the same as the ``hubstitch`` command."""

from .main import main

raise SystemExit(main())
