"""The agent's local state file: pinned keys, license key, activation token, times.

JSON, written atomically (a temporary file in the same folder, fsync, ``os.replace``) with
mode 600, so a crash leaves either the old or the new file and other users cannot read the
key or the token.
"""

from __future__ import annotations

import json
import os
import platform
import tempfile
from dataclasses import asdict, dataclass, field, fields
from datetime import UTC, datetime
from pathlib import Path

STATE_VERSION = 1


class StateError(OSError):
    """The state file cannot be read or written (an I/O or permission problem, or not our JSON)."""


@dataclass
class State:
    """Everything the agent remembers between runs."""

    portal_url: str | None = None
    pinned_keys: dict = field(default_factory=lambda: {"keys": []})  # a JWK Set
    license_key: str | None = None
    token: str | None = None  # the activation token (also a manual-activation code)
    product_version: str | None = None
    last_seen_time: str | None = None  # RFC 3339: the latest of the local clock and verdict times
    last_verdict: dict | None = (
        None  # code, valid, time, expires_at, license id... of the last trusted verdict
    )
    version: int = STATE_VERSION

    def to_json(self) -> dict:
        return asdict(self)

    @classmethod
    def from_json(cls, data: object) -> State:
        if not isinstance(data, dict):
            raise StateError("the state file does not hold a JSON object")
        known = {item.name for item in fields(cls)}
        state = cls(**{name: value for name, value in data.items() if name in known})
        if state.version != STATE_VERSION:
            raise StateError(f"the state file has version {state.version}; this agent reads {STATE_VERSION}")
        if not isinstance(state.pinned_keys, dict) or not isinstance(state.pinned_keys.get("keys"), list):
            state.pinned_keys = {"keys": []}
        return state

    def see_time(self, moment: datetime) -> None:
        """Move ``last_seen_time`` forward to ``moment`` (never back)."""
        last = parse_time(self.last_seen_time)
        if last is None or moment > last:
            self.last_seen_time = format_time(moment)


def default_state_path() -> Path:
    """``$LICENSING_AGENT_STATE``, else a per-user file in the platform's usual place."""
    configured = os.environ.get("LICENSING_AGENT_STATE")
    if configured:
        return Path(configured)
    system = platform.system()
    if system == "Windows":
        base = Path(os.environ.get("LOCALAPPDATA") or Path.home() / "AppData" / "Local")
    elif system == "Darwin":
        base = Path.home() / "Library" / "Application Support"
    else:
        base = Path(os.environ.get("XDG_STATE_HOME") or Path.home() / ".local" / "state")
    return base / "licensing-agent" / "state.json"


class StateFile:
    """Load and save a ``State`` at ``path``."""

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(path)

    def exists(self) -> bool:
        return self.path.exists()

    def load(self) -> State:
        """The stored state, or an empty one if there is no file yet."""
        try:
            text = self.path.read_text(encoding="utf-8")
        except FileNotFoundError:
            return State()
        except OSError as error:
            raise StateError(f"cannot read the state file {self.path}: {error.strerror or error}") from error
        try:
            return State.from_json(json.loads(text))
        except (ValueError, TypeError) as error:
            raise StateError(f"the state file {self.path} is not valid: {error}") from error

    def save(self, state: State) -> None:
        """Write atomically, mode 600: a temporary file beside the target, fsync, ``os.replace``."""
        text = json.dumps(state.to_json(), indent=2, sort_keys=True) + "\n"
        temporary = None
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
            fd, temporary = tempfile.mkstemp(
                prefix=f".{self.path.name}.", suffix=".tmp", dir=self.path.parent
            )
            with os.fdopen(fd, "w", encoding="utf-8") as handle:
                if hasattr(os, "fchmod"):
                    os.fchmod(handle.fileno(), 0o600)  # mkstemp already uses 600; keep it explicit
                handle.write(text)
                handle.flush()
                os.fsync(handle.fileno())
            os.replace(temporary, self.path)
            temporary = None
            _fsync_directory(self.path.parent)
        except OSError as error:
            raise StateError(f"cannot write the state file {self.path}: {error.strerror or error}") from error
        finally:
            if temporary is not None:
                try:
                    os.unlink(temporary)
                except OSError:
                    pass


def _fsync_directory(path: Path) -> None:
    """Make the rename durable where the platform allows opening a directory."""
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def format_time(moment: datetime) -> str:
    """RFC 3339 in UTC with ``Z``, to the second."""
    return moment.astimezone(UTC).replace(microsecond=0).isoformat().replace("+00:00", "Z")


def parse_time(text: object) -> datetime | None:
    """RFC 3339 (``Z`` or an offset) -> aware datetime in UTC; None for None or nonsense."""
    if not isinstance(text, str) or not text:
        return None
    try:
        moment = datetime.fromisoformat(text.replace("Z", "+00:00").replace("z", "+00:00"))
    except ValueError:
        return None
    if moment.tzinfo is None:
        return None
    return moment.astimezone(UTC)
