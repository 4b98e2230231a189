"""A small Graph API client (aiohttp) for the three send endpoints, and Meta's error classification.

Every Meta channel sends with one ``POST {base}/{node}/messages`` and fails with one envelope::

    {"error": {"message", "type", "code", "error_subcode", "fbtrace_id", "error_data": {"details"}}}

so the client and the table that turns an error into retryable/terminal live here, shared. The base
URL (``TAWASUL_META_API_BASE``, e.g. ``https://graph.facebook.com/v25.0``) is configuration so tests
and the demo can point it at the local fake (``fakes/meta.py``).

The token goes in the ``Authorization`` header rather than the ``access_token`` query parameter of
Meta's samples, so it never lands in URLs or proxy logs; ``appsecret_proof`` (HMAC of the token under
the app secret) is always added, which keeps sends working when the app enforces "Require App
Secret" and is ignored otherwise.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from dataclasses import dataclass
from email.utils import parsedate_to_datetime
from typing import Any

import aiohttp

from connectors.base import DeliveryError

# --- error classification ---------------------------------------------------------------------------
# Sources: ../shared/reference/channels.md §2.8, §4.5, §8.3; Messenger "Common Error Codes"; WhatsApp
# "Error codes"; Graph API "Rate limiting". Codes are what Meta asks integrators to branch on.

#: Throttling and transient failures: worth another attempt after a pause.
RETRYABLE_CODES: dict[int, str] = {
    1: "Graph API unknown error (usually transient)",
    2: "Graph API service temporarily unavailable",
    4: "application request limit reached",
    17: "user request limit reached",
    32: "Page request limit reached",
    341: "application limit reached",
    613: "send rate limit exceeded",
    1200: "temporary send failure",
    80007: "WhatsApp Business Account rate limit reached",
    130429: "WhatsApp throughput limit reached (messages per second for this number)",
    131000: "WhatsApp reported an unspecified error",
    131016: "WhatsApp service temporarily unavailable",
    131056: "WhatsApp pair rate limit: too many messages to this citizen in a short time",
    133004: "WhatsApp server temporarily unavailable",
}

#: Subcodes (mostly under code 10) that mean "outside the allowed messaging window".
WINDOW_SUBCODES = frozenset({2018278, 2534022, 2018065})
#: The person cannot receive messages from us (blocked the Page/account, deactivated, restricted).
UNAVAILABLE = frozenset({551, 1545041, 2018108})
#: Token problems: 190 (and its subcodes), 102 the legacy session error, 104 no token at all.
TOKEN_CODES = frozenset({102, 104, 190})

#: WhatsApp-specific terminal codes a coordinator can act on.
WHATSAPP_TERMINAL: dict[int, str] = {
    131026: "message undeliverable: the number is not on WhatsApp, has not accepted the latest terms, "
    "or blocked the service",
    131030: "recipient is not in the allowed list of this test number",
    131031: "the WhatsApp Business Account is locked",
    131042: "WhatsApp business payment problem",
    131051: "message type not supported by WhatsApp",
    132000: "template parameters do not match the approved template",
    132001: "template does not exist in this language, or is not approved",
    368: "the account is restricted for a policy violation",
}

WHATSAPP_WINDOW_CLOSED = 131047
WHATSAPP_PAIR_RATE = 131056
_PAIR_RATE_SPACING_S = 6.0  # WhatsApp's pair rate: about one message every 6 s to the same person


@dataclass(frozen=True)
class GraphError:
    """One Graph API error response, as Meta reports it."""

    status: int
    message: str
    code: int | None = None
    subcode: int | None = None
    type: str | None = None
    fbtrace_id: str | None = None
    details: str | None = None  # WhatsApp's error_data.details: the most precise wording

    @property
    def code_text(self) -> str | None:
        if self.code is None:
            return None
        return f"{self.code}/{self.subcode}" if self.subcode else str(self.code)

    @classmethod
    def from_response(cls, status: int, body: str) -> GraphError:
        try:
            data = json.loads(body)
        except ValueError:
            data = None
        error = data.get("error") if isinstance(data, dict) else None
        if not isinstance(error, dict):
            # A proxy or load balancer answered instead of Graph (HTML 502 pages and the like).
            return cls(status, body.strip()[:200] or f"HTTP {status}")
        error_data = error.get("error_data")
        details = error_data.get("details") if isinstance(error_data, dict) else None
        return cls(
            status,
            str(error.get("message") or f"HTTP {status}"),
            _int(error.get("code")),
            _int(error.get("error_subcode")),
            error.get("type"),
            error.get("fbtrace_id"),
            str(details) if details else None,
        )


@dataclass(frozen=True)
class Channel:
    """Who is sending, in words a coordinator reads on the ticket."""

    label: str  # "Messenger", "Instagram", "WhatsApp"
    token_setting: str  # the environment variable holding the token


def classify(error: GraphError, channel: Channel, *, retry_after: float | None = None) -> DeliveryError:
    """Turn a Graph error into a DeliveryError whose reason a coordinator can act on."""
    code, subcode = error.code, error.subcode
    what = error.details or error.message
    common: dict[str, Any] = {"status": error.status, "code": error.code_text}

    if code == WHATSAPP_WINDOW_CLOSED:
        return DeliveryError(whatsapp_window_closed(), retryable=False, **common)
    if subcode in WINDOW_SUBCODES:
        return DeliveryError(messenger_window_closed(channel.label), retryable=False, **common)
    if code in UNAVAILABLE or subcode in UNAVAILABLE:
        return DeliveryError(
            f"citizen not reachable on {channel.label}: they blocked the account or deactivated theirs "
            f"({what}); reach them on another channel",
            retryable=False,
            **common,
        )
    if code in TOKEN_CODES:
        return DeliveryError(
            f"{channel.label} access token expired or invalid: re-authorise the connection "
            f"(generate a new token and set {channel.token_setting}) - {what}",
            retryable=False,
            **common,
        )
    if code is not None and code in RETRYABLE_CODES:
        wait = retry_after
        if wait is None and code == WHATSAPP_PAIR_RATE:
            wait = _PAIR_RATE_SPACING_S
        return DeliveryError(
            f"{channel.label}: {RETRYABLE_CODES[code]} ({what})", retryable=True, retry_after=wait, **common
        )
    if code in WHATSAPP_TERMINAL:
        return DeliveryError(f"{channel.label}: {WHATSAPP_TERMINAL[code]} ({what})", retryable=False, **common)
    if code == 10 or code == 3 or (code is not None and 200 <= code <= 299):
        return DeliveryError(
            f"{channel.label} permission missing: {what} (check the app's permissions and App Review)",
            retryable=False,
            **common,
        )
    if code == 100 and subcode == 2018001:
        return DeliveryError(
            f"no such {channel.label} user: the recipient id does not belong to this account ({what})",
            retryable=False,
            **common,
        )
    if code is None and (error.status == 429 or error.status >= 500 or error.status == 408):
        return DeliveryError(
            f"{channel.label} unavailable: HTTP {error.status} {what}",
            retryable=True,
            retry_after=retry_after,
            **common,
        )
    if error.status >= 500:  # a Graph error code we do not know, on a server error: try again
        return DeliveryError(f"{channel.label} server error: {what}", retryable=True, retry_after=retry_after, **common)
    return DeliveryError(f"{channel.label} refused the message: {what}", retryable=False, **common)


def messenger_window_closed(label: str) -> str:
    return (
        f"window closed: {label} allows replies only within 24 hours of the citizen's last message, "
        "or within 7 days for a coordinator's reply (sent with the HUMAN_AGENT tag); "
        "the reply was not sent - ask the citizen to write again or reach them on another channel"
    )


def whatsapp_window_closed() -> str:
    return (
        "window closed: only an approved template can be sent - more than 24 hours have passed since the "
        "citizen's last WhatsApp message; send an approved template or wait for the citizen to write again"
    )


def retry_after_from(headers: Any) -> float | None:
    """Seconds to wait before retrying: ``Retry-After`` (seconds or an HTTP date) when Meta or a proxy
    sends it, else the ``estimated_time_to_regain_access`` (minutes) of the business-use-case usage header."""
    value = headers.get("Retry-After")
    if value:
        value = value.strip()
        try:
            return max(0.0, float(value))
        except ValueError:
            pass
        try:
            from datetime import UTC, datetime

            when = parsedate_to_datetime(value)
            return max(0.0, (when - datetime.now(UTC)).total_seconds())
        except (TypeError, ValueError):
            pass
    usage = headers.get("X-Business-Use-Case-Usage")
    if usage:
        try:
            data = json.loads(usage)
        except ValueError:
            return None
        minutes = [
            float(item.get("estimated_time_to_regain_access") or 0)
            for items in (data.values() if isinstance(data, dict) else ())
            if isinstance(items, list)
            for item in items
            if isinstance(item, dict)
        ]
        if minutes and max(minutes) > 0:
            return max(minutes) * 60.0
    return None


# --- the client -------------------------------------------------------------------------------------


class GraphClient:
    """``POST`` JSON to Graph nodes with one token; raises DeliveryError (already classified)."""

    def __init__(
        self,
        base_url: str,
        access_token: str,
        channel: Channel,
        *,
        app_secret: str | None = None,
        timeout_s: float = 15.0,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.channel = channel
        self._token = access_token
        self._proof = (
            hmac.new(app_secret.encode(), access_token.encode(), hashlib.sha256).hexdigest() if app_secret else None
        )
        self._timeout = aiohttp.ClientTimeout(total=timeout_s, connect=5)
        self._session: aiohttp.ClientSession | None = None

    async def post(self, path: str, payload: dict[str, Any]) -> dict[str, Any]:
        """Send ``payload`` to ``{base}/{path}``; return the JSON answer of a 2xx."""
        if self._session is None or self._session.closed:
            self._session = aiohttp.ClientSession(timeout=self._timeout)
        url = f"{self.base_url}/{path.lstrip('/')}"
        params = {"appsecret_proof": self._proof} if self._proof else None
        headers = {"Authorization": f"Bearer {self._token}"}
        # ensure_ascii=False: Arabic goes out as UTF-8, exactly the characters the coordinator wrote.
        body = json.dumps(payload, ensure_ascii=False).encode("utf-8")
        try:
            async with self._session.post(
                url,
                data=body,
                params=params,
                headers={**headers, "Content-Type": "application/json; charset=utf-8"},
            ) as resp:
                text = await resp.text(errors="replace")
                if resp.status < 300:
                    try:
                        data = json.loads(text)
                    except ValueError:
                        data = None
                    if not isinstance(data, dict):
                        raise DeliveryError(
                            f"{self.channel.label} answered {resp.status} without a JSON object",
                            retryable=True,
                            status=resp.status,
                        )
                    return data
                error = GraphError.from_response(resp.status, text)
                raise classify(error, self.channel, retry_after=retry_after_from(resp.headers))
        except aiohttp.ClientError as exc:
            raise DeliveryError(f"{self.channel.label} Graph API unreachable: {exc}", retryable=True) from exc
        except TimeoutError as exc:
            raise DeliveryError(f"{self.channel.label} Graph API timed out", retryable=True) from exc

    async def aclose(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None


def _int(value: Any) -> int | None:
    try:
        return int(value) if value is not None and not isinstance(value, bool) else None
    except (TypeError, ValueError):
        return None
