"""The reference agent's tests: the package lives in agent/ (installable on its own), not on sys.path."""

import sys
from pathlib import Path

AGENT_PROJECT = Path(__file__).resolve().parents[2] / "agent"
if str(AGENT_PROJECT) not in sys.path:
    sys.path.insert(0, str(AGENT_PROJECT))
