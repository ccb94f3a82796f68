"""The OpenAPI 3.1 document of the agent API, served at /api/v1/openapi.json.

Kept beside the API it describes; tests check every endpoint's answers against it.
"""

from __future__ import annotations

from licenses.models import Kind
from licenses.verdicts import Code

# At least one character that Python's str.strip() keeps (it also strips \x1c-\x1f and \x85).
NOT_BLANK = "[^\\s\\u001c-\\u001f\\u0085]"
# A control character (C0, DEL, C1): refused in fingerprint fields and machine names (AGENT_PROTOCOL.md 1.1).
CONTROL = "[\\u0000-\\u001f\\u007f-\\u009f]"

_ERROR_CODES = [
    "BAD_REQUEST",
    "LENGTH_REQUIRED",
    "NOT_FOUND_ROUTE",
    "METHOD_NOT_ALLOWED",
    "TOO_LARGE",
    "UNSUPPORTED_MEDIA_TYPE",
    "RATE_LIMITED",
    "UNAVAILABLE",
    "INTERNAL_ERROR",
]

_SCHEMAS = {
    "Fingerprint": {
        "type": "object",
        "required": ["mac", "cpu_id", "hostname", "product_version"],
        "properties": {
            "mac": {
                "type": "string",
                "minLength": 1,
                "maxLength": 255,
                "pattern": NOT_BLANK,
                "not": {"pattern": CONTROL},
                "examples": ["00:1a:2b:3c:4d:5e"],
            },
            "cpu_id": {
                "type": "string",
                "minLength": 1,
                "maxLength": 255,
                "pattern": NOT_BLANK,
                "not": {"pattern": CONTROL},
                "examples": ["BFEBFBFF000906EA"],
            },
            "hostname": {
                "type": "string",
                "minLength": 1,
                "maxLength": 255,
                "pattern": NOT_BLANK,
                "not": {"pattern": CONTROL},
                "examples": ["acme-srv01"],
            },
            "product_version": {
                "type": "string",
                "minLength": 1,
                "maxLength": 255,
                "pattern": NOT_BLANK,
                "not": {"pattern": CONTROL},
                "examples": ["4.4.2"],
            },
        },
    },
    "AgentRequest": {
        "type": "object",
        "required": ["license_key", "fingerprint"],
        "properties": {
            "license_key": {"type": "string", "minLength": 1, "maxLength": 1024, "pattern": NOT_BLANK},
            "fingerprint": {"$ref": "#/components/schemas/Fingerprint"},
            "nonce": {"type": ["string", "null"], "pattern": "^[A-Za-z0-9_-]{1,64}$"},
        },
    },
    "ActivateRequest": {
        "allOf": [
            {"$ref": "#/components/schemas/AgentRequest"},
            {
                "type": "object",
                "properties": {
                    "machine_name": {"type": ["string", "null"], "maxLength": 200, "not": {"pattern": CONTROL}}
                },
            },
        ]
    },
    "License": {
        "type": "object",
        "required": [
            "id",
            "kind",
            "edition",
            "organization",
            "environment",
            "expires_at",
            "capabilities",
            "key_digest",
        ],
        "properties": {
            "id": {"type": "string", "format": "uuid"},
            "kind": {"type": "string", "enum": list(Kind.values)},
            "edition": {"type": "string", "enum": ["paid", "trial", "free"]},
            "organization": {
                "type": "object",
                "required": ["id", "name"],
                "properties": {"id": {"type": "string", "format": "uuid"}, "name": {"type": "string"}},
            },
            "environment": {"type": ["string", "null"]},
            "expires_at": {"type": ["string", "null"], "format": "date-time"},
            "capabilities": {
                "type": "object",
                "required": ["save_data_configuration"],
                "properties": {
                    "save_data_configuration": {"type": "boolean"},
                    "paid_features": {"type": "boolean", "description": "False for free-edition keys."},
                },
            },
            "key_digest": {
                "type": "string",
                "pattern": "^[0-9a-f]{64}$",
                "description": "SHA-256 of the key text as sent (stripped): the agent checks it is its own key's.",
            },
            "banner": {"type": "string", "description": "Shown to the agent's users while the key is in use."},
        },
    },
    "Verdict": {
        "type": "object",
        "required": ["valid", "code", "detail", "time"],
        "properties": {
            "valid": {"type": "boolean"},
            "code": {"type": "string", "enum": list(Code.values)},
            "detail": {"type": "string"},
            "license": {"$ref": "#/components/schemas/License"},
            "machine": {
                "type": "object",
                "required": ["uid", "activated_at"],
                "properties": {
                    "uid": {"type": "string", "pattern": "^[0-9a-f]{64}$"},
                    "activated_at": {"type": ["string", "null"], "format": "date-time"},
                },
            },
            "activation": {"type": "string", "description": "Activation token (compact JWS, EdDSA); activate only."},
            "changed": {
                "type": "array",
                "items": {"type": "string", "enum": ["mac", "cpu_id", "hostname", "product_version"]},
            },
            "nonce": {"type": "string"},
            "time": {"type": "string", "format": "date-time"},
        },
    },
    "Error": {
        "type": "object",
        "required": ["error"],
        "properties": {
            "error": {
                "type": "object",
                "required": ["code", "detail"],
                "properties": {"code": {"type": "string", "enum": _ERROR_CODES}, "detail": {"type": "string"}},
            }
        },
    },
    "JWKS": {
        "type": "object",
        "required": ["keys"],
        "properties": {
            "keys": {
                "type": "array",
                "items": {
                    "type": "object",
                    "required": ["kty", "crv", "x", "kid", "alg", "use"],
                    "properties": {
                        "kty": {"const": "OKP"},
                        "crv": {"const": "Ed25519"},
                        "x": {"type": "string"},
                        "kid": {"type": "string"},
                        "alg": {"const": "EdDSA"},
                        "use": {"const": "sig"},
                    },
                },
            }
        },
    },
}


def _error(description: str, headers: dict | None = None) -> dict:
    response = {
        "description": description,
        "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}},
    }
    if headers:
        response["headers"] = headers
    return response


_RETRY_AFTER = {"Retry-After": {"schema": {"type": "integer"}, "description": "Seconds to wait."}}
_SIGNATURE = {
    "License-Signature": {
        "schema": {"type": "string"},
        "description": 'kid="<kid>", sig="<base64url Ed25519 signature of the body bytes>"',
    }
}


def _agent_operation(operation_id: str, summary: str, request_schema: str) -> dict:
    return {
        "post": {
            "operationId": operation_id,
            "summary": summary,
            "requestBody": {
                "required": True,
                "content": {"application/json": {"schema": {"$ref": f"#/components/schemas/{request_schema}"}}},
            },
            "responses": {
                "200": {
                    "description": "A signed verdict, whatever the license's state.",
                    "headers": _SIGNATURE,
                    "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Verdict"}}},
                },
                "400": _error("The request is not well formed; detail names the field."),
                "405": _error("Only POST is allowed."),
                "411": _error("A chunked body the server did not decode: send a Content-Length."),
                "413": _error("The body is larger than 16 KiB."),
                "415": _error("The body is not application/json."),
                "429": _error("Too many requests.", _RETRY_AFTER),
                "500": _error("An internal error."),
                "503": _error("The database is unavailable.", _RETRY_AFTER),
            },
        }
    }


def _public_get(operation_id: str, summary: str, schema: dict) -> dict:
    return {
        "get": {
            "operationId": operation_id,
            "summary": summary,
            "responses": {
                "200": {"description": summary, "content": {"application/json": {"schema": schema}}},
                "503": _error("The database is unavailable.", _RETRY_AFTER),
            },
        }
    }


def openapi_document(server_url: str) -> dict:
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "Licensing portal agent API",
            "version": "1",
            "description": "The contract between the portal and its agents (AGENT_PROTOCOL.md).",
        },
        "servers": [{"url": server_url.rstrip("/")}],
        "paths": {
            "/api/v1/activate": _agent_operation(
                "activate", "Bind a key to this machine; get a token.", "ActivateRequest"
            ),
            "/api/v1/validate": _agent_operation(
                "validate", "Heartbeat: may the key be used here now?", "AgentRequest"
            ),
            "/api/v1/deactivate": _agent_operation("deactivate", "Release this machine's binding.", "AgentRequest"),
            "/api/v1/jwks": _public_get(
                "jwks", "The JWK Set of the signing keys.", {"$ref": "#/components/schemas/JWKS"}
            ),
            "/.well-known/jwks.json": _public_get(
                "jwks_well_known", "The JWK Set of the signing keys.", {"$ref": "#/components/schemas/JWKS"}
            ),
            "/healthz": _public_get(
                "healthz",
                "Readiness: the portal and its database answer.",
                {"type": "object", "required": ["status"], "properties": {"status": {"const": "ok"}}},
            ),
        },
        "components": {"schemas": _SCHEMAS},
    }
