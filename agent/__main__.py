"""``python -m agent`` from the repository's root: the same command line as ``python -m licensing_agent``.

This folder is the installable package's project (``pip install ./agent``); the shim puts it on
``sys.path`` so that the command works without installing.
"""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from licensing_agent.cli import main

raise SystemExit(main())
