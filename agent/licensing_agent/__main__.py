"""``python -m licensing_agent``: the command line (see ``cli.py``)."""

from .cli import main

raise SystemExit(main())
