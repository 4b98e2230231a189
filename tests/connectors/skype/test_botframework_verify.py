"""Bot Framework inbound authentication: the JWT checks of channels.md §6.2, one by one, against
tokens signed with the key the fake OpenID metadata server publishes."""

from __future__ import annotations

import json
import socket
from typing import Any

import pytest

from connectors.base import PayloadInvalid, SignatureInvalid, SignatureMissing
from connectors.botframework import BotFrameworkConnector, KeysUnavailable, OpenIdKeys
from fakes.botframework import FakeBotFramework, new_key
from tests.connectors.skype.support import APP_ID, APP_PASSWORD, fixture, request

TEAMS = "message__msteams_text_arabic"


def signed(fake: FakeBotFramework, name: str = TEAMS, **spoil: Any) -> tuple[bytes, dict[str, str]]:
    return fake.signed(fixture(name), **spoil)


def verify(connector: BotFrameworkConnector, body: bytes, headers: dict[str, str]) -> None:
    connector.verify(request(body, headers))


@pytest.mark.parametrize(
    "name", ["message__msteams_text_arabic", "message__skype_text_arabic", "message__webchat_text_arabic"]
)
def test_token_signed_with_the_published_key_is_accepted_for_each_channel(
    fake: FakeBotFramework, connector: BotFrameworkConnector, name: str
) -> None:
    verify(connector, *signed(fake, name))


def test_missing_authorization_header_is_401(fake: FakeBotFramework, connector: BotFrameworkConnector) -> None:
    body, _ = signed(fake)
    with pytest.raises(SignatureMissing) as exc:
        verify(connector, body, {})
    assert exc.value.status == 401


def test_a_non_bearer_authorization_is_401(fake: FakeBotFramework, connector: BotFrameworkConnector) -> None:
    body, _ = signed(fake)
    with pytest.raises(SignatureMissing):
        verify(connector, body, {"Authorization": "Basic dXNlcjpwYXNz"})


@pytest.mark.parametrize(
    ("spoil", "check"),
    [
        ({"issuer": "https://sts.windows.net/attacker/"}, "issuer check"),
        ({"audience": "00000000-1111-2222-3333-444444444444"}, "audience check"),
        ({"expires_in": -3600}, "expiry check"),
        ({"not_before_in": 3600}, "not-before check"),
        ({"service_url": "https://attacker.example/api/"}, "serviceUrl check"),
        ({"kid": "kid-nobody-published"}, "signing key check"),
        ({"algorithm": "none"}, "algorithm check"),
        ({"algorithm": "HS256", "key": "shared-secret-guess-that-is-long-enough-32b"}, "algorithm check"),
        ({"drop": ["exp"]}, "claims check"),
    ],
)
def test_each_failed_check_is_403_and_names_the_check(
    fake: FakeBotFramework, connector: BotFrameworkConnector, spoil: dict[str, Any], check: str
) -> None:
    body, headers = signed(fake, **spoil)
    with pytest.raises(SignatureInvalid) as exc:
        verify(connector, body, headers)
    assert exc.value.status == 403
    assert exc.value.message.startswith(check)
    assert headers["Authorization"].split()[1] not in exc.value.message  # never echo the token


def test_tampered_signature_is_403(fake: FakeBotFramework, connector: BotFrameworkConnector) -> None:
    body, headers = signed(fake)
    head, payload, signature = headers["Authorization"].split()[1].split(".")
    flipped = ("A" if signature[10] != "A" else "B").join((signature[:10], signature[11:]))
    with pytest.raises(SignatureInvalid) as exc:
        verify(connector, body, {"Authorization": f"Bearer {head}.{payload}.{flipped}"})
    assert exc.value.message.startswith("signature check")


def test_token_signed_by_another_key_under_the_published_kid_is_403(
    fake: FakeBotFramework, connector: BotFrameworkConnector
) -> None:
    body, headers = signed(fake, key=new_key())
    with pytest.raises(SignatureInvalid) as exc:
        verify(connector, body, headers)
    assert exc.value.message.startswith("signature check")


def test_claims_edited_after_signing_are_403(fake: FakeBotFramework, connector: BotFrameworkConnector) -> None:
    import base64

    body, headers = signed(fake)
    head, payload, signature = headers["Authorization"].split()[1].split(".")
    claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    claims["aud"] = APP_ID + "-other"
    forged = base64.urlsafe_b64encode(json.dumps(claims).encode()).rstrip(b"=").decode()
    with pytest.raises(SignatureInvalid) as exc:
        verify(connector, body, {"Authorization": f"Bearer {head}.{forged}.{signature}"})
    assert exc.value.message.startswith("signature check")


def test_garbage_bearer_value_is_403_token_format(connector: BotFrameworkConnector, fake: FakeBotFramework) -> None:
    body, _ = signed(fake)
    with pytest.raises(SignatureInvalid) as exc:
        verify(connector, body, {"Authorization": "Bearer not-a-jwt"})
    assert exc.value.message.startswith("token format check")


def test_channel_the_key_is_not_endorsed_for_is_403() -> None:
    teams_only = FakeBotFramework(APP_ID, APP_PASSWORD, endorsements=("msteams",)).start_in_thread()
    try:
        connector = BotFrameworkConnector(
            APP_ID, APP_PASSWORD, openid_url=teams_only.openid_url, token_url=teams_only.token_url
        )
        verify(connector, *teams_only.signed(fixture(TEAMS)))
        with pytest.raises(SignatureInvalid) as exc:
            verify(connector, *teams_only.signed(fixture("message__skype_text_arabic")))
        assert exc.value.message.startswith("channel endorsement check")
        assert "'skype'" in exc.value.message
    finally:
        teams_only.stop_thread()


def test_body_whose_service_url_differs_from_the_signed_one_is_403(
    fake: FakeBotFramework, connector: BotFrameworkConnector
) -> None:
    # A valid token lifted from one request and attached to a body that sends replies elsewhere.
    _, headers = signed(fake)
    activity = fixture(TEAMS) | {"serviceUrl": "https://attacker.example/"}
    with pytest.raises(SignatureInvalid) as exc:
        verify(connector, json.dumps(activity).encode(), headers)
    assert exc.value.message.startswith("serviceUrl check")


def test_expiry_within_the_five_minute_clock_skew_is_accepted(
    fake: FakeBotFramework, connector: BotFrameworkConnector
) -> None:
    verify(connector, *signed(fake, expires_in=-120))


def test_keys_are_fetched_once_and_then_served_from_the_cache(
    fake: FakeBotFramework, connector: BotFrameworkConnector
) -> None:
    for _ in range(5):
        verify(connector, *signed(fake))
    assert (fake.metadata_fetches, fake.jwks_fetches) == (1, 1)


def test_unknown_kids_cannot_force_a_fetch_per_request(
    fake: FakeBotFramework, connector: BotFrameworkConnector
) -> None:
    verify(connector, *signed(fake))
    for i in range(5):
        with pytest.raises(SignatureInvalid):
            verify(connector, *signed(fake, kid=f"random-{i}"))
    assert fake.jwks_fetches == 1  # within the cool-down an unknown kid is simply unknown


def test_a_rotated_key_is_picked_up_by_refetching_on_its_unknown_kid(fake: FakeBotFramework) -> None:
    keys = OpenIdKeys(fake.openid_url, unknown_kid_cooldown_s=0)
    connector = BotFrameworkConnector(
        APP_ID, APP_PASSWORD, openid_url=fake.openid_url, token_url=fake.token_url, keys=keys
    )
    verify(connector, *signed(fake))
    fake.rotate_key()
    verify(connector, *signed(fake))  # signed with the new kid
    assert fake.jwks_fetches == 2


def test_stale_keys_are_refreshed_in_the_background_while_still_serving(fake: FakeBotFramework) -> None:
    keys = OpenIdKeys(fake.openid_url, refresh_after_s=0, stale_retry_s=0)
    connector = BotFrameworkConnector(
        APP_ID, APP_PASSWORD, openid_url=fake.openid_url, token_url=fake.token_url, keys=keys
    )
    verify(connector, *signed(fake))
    verify(connector, *signed(fake))  # served from the cache; a refresh starts on a thread
    thread = keys._background
    assert thread is not None
    thread.join(10)
    assert fake.jwks_fetches == 2 and keys.fetches == 2


def test_unreachable_key_server_is_503_not_a_forgery(fake: FakeBotFramework) -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        closed_port = s.getsockname()[1]
    connector = BotFrameworkConnector(
        APP_ID,
        APP_PASSWORD,
        openid_url=f"http://127.0.0.1:{closed_port}/v1/.well-known/openidconfiguration",
        token_url=fake.token_url,
    )
    with pytest.raises(KeysUnavailable) as exc:
        verify(connector, *signed(fake))
    assert exc.value.status == 503
    # Within the back-off the next request does not wait on the network again.
    with pytest.raises(KeysUnavailable):
        verify(connector, *signed(fake))


def test_the_body_is_only_read_after_the_token_is_authenticated(
    fake: FakeBotFramework, connector: BotFrameworkConnector
) -> None:
    _, good = signed(fake)
    _, forged = signed(fake, audience="another-bot")
    with pytest.raises(SignatureInvalid):
        verify(connector, b"{not json", forged)  # a stranger learns nothing about our parser
    with pytest.raises(PayloadInvalid):
        verify(connector, b"{not json", good)


def test_a_failing_refresh_is_retried_now_and_then_not_on_every_request(fake: FakeBotFramework) -> None:
    keys = OpenIdKeys(fake.openid_url, refresh_after_s=0, stale_retry_s=3600)
    connector = BotFrameworkConnector(
        APP_ID, APP_PASSWORD, openid_url=fake.openid_url, token_url=fake.token_url, keys=keys
    )
    for _ in range(5):
        verify(connector, *signed(fake))  # stale from the start, but just attempted: served from the cache
    assert keys._background is None and fake.jwks_fetches == 1
