"""Webhook authenticity for the Meta family: the ``hub.challenge`` handshake and ``X-Hub-Signature-256``.

Messenger, Instagram and WhatsApp share one app, so one app secret signs every POST and one verify
token answers every subscription handshake (../shared/reference/channels.md §2.1-2.2, §3.2, §4.1).

Meta signs an *escaped* form of the payload: every non-ASCII character is sent as ``\\uXXXX`` (and
``/`` as ``\\/``). The HMAC must therefore be computed over the raw request bytes exactly as they
arrived; decoding and re-serialising the JSON yields different bytes, and a different signature,
as soon as the text is Arabic. Nothing here ever parses the body.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from typing import Any

from connectors.base import (
    ChallengeResponse,
    SignatureInvalid,
    SignatureMissing,
    WebhookRequest,
    constant_time_equals,
)

SIGNATURE_HEADER = "X-Hub-Signature-256"
_PREFIX = "sha256="


def sign(app_secret: str, body: bytes) -> str:
    """The ``X-Hub-Signature-256`` value for ``body``: ``sha256=`` + lowercase hex HMAC-SHA256."""
    return _PREFIX + hmac.new(app_secret.encode(), body, hashlib.sha256).hexdigest()


def verify_signature(app_secret: str, request: WebhookRequest) -> None:
    """Raise SignatureMissing (401) or SignatureInvalid (403) unless the raw body is signed by the app."""
    given = request.headers.get(SIGNATURE_HEADER)
    if given is None or not given.strip():
        raise SignatureMissing(f"missing {SIGNATURE_HEADER} header")
    given = given.strip()
    if not given.lower().startswith(_PREFIX):
        raise SignatureInvalid(f"{SIGNATURE_HEADER} must start with {_PREFIX!r}")
    # Meta sends lowercase hex; lowering what we were given keeps an upper-case proxy rewrite valid.
    if not constant_time_equals(given.lower(), sign(app_secret, request.body)):
        raise SignatureInvalid(f"{SIGNATURE_HEADER} does not match the body (signed with another app secret?)")


def answer_challenge(verify_token: str, request: WebhookRequest) -> ChallengeResponse:
    """Meta's subscription handshake: ``GET ?hub.mode=subscribe&hub.verify_token=…&hub.challenge=…``.

    Echo the challenge when the mode and token are right; a wrong token is 403 so Meta's dashboard
    shows the subscription as failed rather than silently subscribed to someone else's endpoint.
    """
    mode = request.query.get("hub.mode")
    token = request.query.get("hub.verify_token")
    challenge = request.query.get("hub.challenge")
    if mode is None or token is None or challenge is None:
        return ChallengeResponse(400, "hub.mode, hub.verify_token and hub.challenge are required")
    if mode != "subscribe":
        return ChallengeResponse(403, f"unsupported hub.mode {mode!r}")
    if not constant_time_equals(token, verify_token):
        return ChallengeResponse(403, "hub.verify_token does not match TAWASUL_META_VERIFY_TOKEN")
    return ChallengeResponse(200, challenge)


def meta_json(payload: Any) -> bytes:
    """Serialise ``payload`` the way Meta puts it on the wire: compact, non-ASCII escaped as
    lowercase ``\\uXXXX`` and ``/`` escaped as ``\\/``. Used by the fake platform and tests to build
    webhook bodies that look byte-for-byte like Meta's."""
    text = json.dumps(payload, ensure_ascii=True, separators=(",", ":"))
    return text.replace("/", "\\/").encode("ascii")
