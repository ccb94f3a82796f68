"""The command line: ``python -m licensing_agent COMMAND`` (or ``python -m agent`` from the repository).

Exit codes scripts can rely on:

- ``0`` licensed (``activate``, ``validate``, ``status``, ``import-code``); done (``fingerprint``,
  ``uid``, ``pin``); released (``deactivate``); a sound key (``inspect``).
- ``1`` not licensed; the portal refused (``deactivate``); a bad key (``inspect``) or code.
- ``2`` a usage or I/O error, or no trusted answer where one is needed (``deactivate``, ``pin``).

Options may also come from the environment: ``LICENSING_AGENT_PORTAL``, ``LICENSING_AGENT_STATE``,
``LICENSING_AGENT_PRODUCT_VERSION``, ``LICENSING_AGENT_MAC``, ``LICENSING_AGENT_CPU_ID``,
``LICENSING_AGENT_HOSTNAME``.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Sequence

from .agent import Agent, AgentError
from .client import PortalError
from .fingerprint import FingerprintError
from .results import KeyReport, Status
from .state import StateError, format_time
from .tokens import TokenError
from .trust import TrustError

LICENSED, NOT_LICENSED, USAGE_ERROR = 0, 1, 2


def build_parser() -> argparse.ArgumentParser:
    # Options are accepted before or after the command: each subcommand has them too, with
    # SUPPRESS defaults so that it does not reset what was given before the command.
    common = argparse.ArgumentParser(add_help=False)
    parser = argparse.ArgumentParser(
        prog="licensing-agent",
        description="Reference licensing agent: fingerprint, activation, validation, offline rules.",
        epilog="Exit codes: 0 licensed (or done), 1 not licensed, 2 usage or I/O error.",
    )
    _add_common(parser, defaults=True)
    _add_common(common, defaults=False)
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    commands.add_parser("fingerprint", parents=[common], help="show this machine's fingerprint and UID")
    commands.add_parser("uid", parents=[common], help="print this machine's UID (for manual activation)")
    inspect = commands.add_parser("inspect", parents=[common], help="read a license key offline")
    inspect.add_argument("key")
    activate = commands.add_parser("activate", parents=[common], help="activate a key on this machine")
    activate.add_argument("key")
    activate.add_argument("--machine-name", help="a label for this machine in the portal")
    commands.add_parser("validate", parents=[common], help="ask the portal (the heartbeat); offline rules")
    commands.add_parser("deactivate", parents=[common], help="release this machine's binding")
    code = commands.add_parser("import-code", parents=[common], help="manual activation with a code")
    code.add_argument("code", help="the activation code from the portal's manual-activation page")
    code.add_argument("--key", help="the license key, if not stored yet")
    commands.add_parser("status", parents=[common], help="the offline rules, without the network")
    pin = commands.add_parser("pin", parents=[common], help="pin the portal's public keys (JWK Set)")
    pin.add_argument("--jwks-file", help="pin from this JWK Set file instead of the portal")
    return parser


def _add_common(parser: argparse.ArgumentParser, *, defaults: bool) -> None:
    def default(name: str | None, value=None):
        if not defaults:
            return argparse.SUPPRESS
        return os.environ.get(name, value) if name else value

    parser.add_argument("--portal", default=default("LICENSING_AGENT_PORTAL"), help="the portal's base URL")
    parser.add_argument("--state", default=default("LICENSING_AGENT_STATE"), help="the state file")
    parser.add_argument(
        "--product-version",
        default=default("LICENSING_AGENT_PRODUCT_VERSION"),
        help="the product's version (remembered from activate)",
    )
    parser.add_argument("--mac", default=default("LICENSING_AGENT_MAC"), help="override the MAC address")
    parser.add_argument(
        "--cpu-id", default=default("LICENSING_AGENT_CPU_ID"), help="override the processor ID"
    )
    parser.add_argument(
        "--hostname", default=default("LICENSING_AGENT_HOSTNAME"), help="override the hostname"
    )
    parser.add_argument(
        "--language",
        default=default("LICENSING_AGENT_LANGUAGE"),
        help="the language of the portal's messages (en, de; sent as Accept-Language)",
    )
    parser.add_argument("--timeout", type=float, default=default(None, 10.0), help="HTTP timeout, seconds")
    parser.add_argument("--json", action="store_true", default=default(None, False), help="print JSON")


def main(argv: Sequence[str] | None = None) -> int:
    try:
        return _run(argv)
    except BrokenPipeError:
        # The reader went away (``| head``): what it wanted is printed; say nothing more. Python
        # flushes stdout again at exit, so point it at /dev/null first, or that flush fails too.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return 0


def _run(argv: Sequence[str] | None) -> int:
    args = build_parser().parse_args(argv)
    out = Output(as_json=args.json)
    try:
        agent = Agent(
            product_version=args.product_version,
            portal_url=args.portal,
            state_path=args.state,
            mac=args.mac,
            cpu_id=args.cpu_id,
            hostname=args.hostname,
            timeout=args.timeout,
            language=args.language,
        )
        return COMMANDS[args.command](agent, args, out)
    except TokenError as error:
        return out.error(f"the activation code is not accepted: {error}", NOT_LICENSED)
    except (AgentError, StateError, FingerprintError, TrustError, PortalError) as error:
        return out.error(str(error), USAGE_ERROR)


class Output:
    def __init__(self, *, as_json: bool) -> None:
        self.as_json = as_json

    def data(self, data: dict, lines: list[str]) -> None:
        if self.as_json:
            print(json.dumps(data, indent=2, sort_keys=True))
        else:
            print("\n".join(lines))

    def error(self, message: str, code: int) -> int:
        if self.as_json:
            print(json.dumps({"error": message, "exit_code": code}))
        print(f"licensing-agent: {message}", file=sys.stderr)
        return code

    def status(self, status: Status) -> int:
        lines = [
            f"Licensed: {'yes' if status.licensed else 'no'} ({status.code}, {_connection_text(status)})",
            f"  {status.detail}",
        ]
        if status.untrusted:
            lines.insert(
                0, "UNTRUSTED ANSWER: the portal's answer failed its signature or nonce check; ignored."
            )
        verdict, token = status.verdict, status.token
        if verdict is not None and verdict.license_id:
            organization = (verdict.organization or {}).get("name") or (verdict.organization or {}).get("id")
            lines.append(
                f"  License {verdict.license_id}: {verdict.kind}, {verdict.edition}, {organization}, "
                f"{verdict.environment or 'no environment'}"
            )
        elif token is not None:
            lines.append(
                f"  License {token.license_id}: {token.kind}, {token.edition}, organization "
                f"{token.organization_id}, {token.environment or 'no environment'}"
            )
        if status.banner:
            lines.insert(1, f"  {status.banner}")
        if status.changed:
            lines.append(f"  Changed since activation: {', '.join(status.changed)}")
        if status.licensed:
            capabilities = [name for name, allowed in sorted(status.capabilities.items()) if allowed]
            lines.append(f"  Capabilities: {', '.join(capabilities) or 'none'}")
            lines.append(f"  Until: {format_time(status.expires_at) if status.expires_at else 'no end'}")
        lines.append(f"  Machine UID: {status.machine_uid}")
        lines += [f"Warning: {warning}" for warning in status.warnings]
        self.data(status.as_json(), lines)
        return LICENSED if status.licensed else NOT_LICENSED


def _connection_text(status: Status) -> str:
    return {
        "portal": "the portal's signed answer",
        "unreachable": "no answer from the portal: offline rules",
        "untrusted": "untrusted answer ignored: offline rules",
        "offline": "offline rules, portal not asked",
    }.get(status.connection, status.connection)


def command_fingerprint(agent: Agent, args: argparse.Namespace, out: Output) -> int:
    fingerprint = agent.fingerprint()
    data = fingerprint.as_request() | {"machine_uid": fingerprint.uid, "warnings": list(fingerprint.warnings)}
    lines = [f"{name}: {value}" for name, value in fingerprint.as_request().items()]
    lines.append(f"machine_uid: {fingerprint.uid}")
    lines += [f"Warning: {warning}" for warning in fingerprint.warnings]
    out.data(data, lines)
    return 0


def command_uid(agent: Agent, args: argparse.Namespace, out: Output) -> int:
    fingerprint = agent.fingerprint()
    lines = [fingerprint.uid]
    for warning in fingerprint.warnings:
        print(f"Warning: {warning}", file=sys.stderr)
    out.data({"machine_uid": fingerprint.uid, "warnings": list(fingerprint.warnings)}, lines)
    return 0


def command_inspect(agent: Agent, args: argparse.Namespace, out: Output) -> int:
    report: KeyReport = agent.inspect(args.key)
    if report.key is None:
        lines = [f"Not a valid license key: {report.problem}"]
    else:
        key = report.key
        signature = {True: "holds (issued by the pinned portal)", False: "DOES NOT HOLD"}.get(
            report.signature_valid, "not checked (no pinned keys: run `pin`)"
        )
        lines = [
            f"Kind: {key.kind}",
            f"Organization: {key.organization_id}",
            f"Issued: {format_time(key.issued_at)}",
            "Checksum: valid",
            f"Signature: {signature}",
        ]
    out.data(report.as_json(), lines)
    return 0 if report.well_formed and report.signature_valid is not False else NOT_LICENSED


def command_activate(agent: Agent, args: argparse.Namespace, out: Output) -> int:
    return out.status(agent.activate(args.key, machine_name=args.machine_name))


def command_validate(agent: Agent, args: argparse.Namespace, out: Output) -> int:
    return out.status(agent.validate())


def command_status(agent: Agent, args: argparse.Namespace, out: Output) -> int:
    return out.status(agent.status())


def command_import_code(agent: Agent, args: argparse.Namespace, out: Output) -> int:
    return out.status(agent.import_code(args.code, license_key=args.key))


def command_deactivate(agent: Agent, args: argparse.Namespace, out: Output) -> int:
    status = agent.deactivate()
    out.status(status)
    return 0 if status.code == "DEACTIVATED" else NOT_LICENSED


def command_pin(agent: Agent, args: argparse.Namespace, out: Output) -> int:
    keys = agent.pin(jwks_file=args.jwks_file)
    state = agent.state_file.load()
    lines = [
        f"Pinned {len(keys.kids)} key(s) of {state.portal_url or 'the given JWK Set'}: {', '.join(keys.kids)}"
    ]
    out.data({"portal": state.portal_url, "kids": keys.kids}, lines)
    return 0


COMMANDS = {
    "fingerprint": command_fingerprint,
    "uid": command_uid,
    "inspect": command_inspect,
    "activate": command_activate,
    "validate": command_validate,
    "deactivate": command_deactivate,
    "import-code": command_import_code,
    "status": command_status,
    "pin": command_pin,
}
