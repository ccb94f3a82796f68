"""licensing_agent: the reference agent of the licensing portal (AGENT_PROTOCOL.md, version 1).

Standard library and ``cryptography`` only. Start with ``Agent``; ``Heartbeat`` validates on an
interval. The modules are small so that ports to other languages can follow them one by one:
``fingerprint`` (machine UID), ``keys`` (license key format), ``tokens`` (activation token),
``trust`` (pinned keys, verdict signatures), ``client`` (HTTP), ``state`` (state file),
``offline`` (offline rules), ``agent``, ``heartbeat``, ``cli``.
"""

from .agent import Agent, AgentError
from .client import PortalClient, PortalError, PortalUnreachable, UntrustedAnswer, Verdict
from .fingerprint import Fingerprint, FingerprintError, collect, machine_uid
from .heartbeat import Heartbeat
from .keys import KeyFormatError, LicenseKey, parse_key
from .results import KeyReport, Status
from .state import State, StateError, StateFile
from .tokens import ActivationToken, TokenError, verify_token
from .trust import KeySet, TrustError

__version__ = "1.0.0"

__all__ = [
    "ActivationToken",
    "Agent",
    "AgentError",
    "Fingerprint",
    "FingerprintError",
    "Heartbeat",
    "KeyFormatError",
    "KeyReport",
    "KeySet",
    "LicenseKey",
    "PortalClient",
    "PortalError",
    "PortalUnreachable",
    "State",
    "StateError",
    "StateFile",
    "Status",
    "TokenError",
    "TrustError",
    "UntrustedAnswer",
    "Verdict",
    "collect",
    "machine_uid",
    "parse_key",
    "verify_token",
]
