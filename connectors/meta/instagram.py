"""Instagram messaging: the Messenger Platform envelope with ``object: "instagram"`` (channels.md §3).

Everything Messenger does applies (signature, batching, echoes, postbacks, quick replies, the 24-hour
window and the HUMAN_AGENT tag), with these differences, declared here rather than switched on
elsewhere:

- text is limited to **1000 UTF-8 bytes** (about 500 Arabic letters): ``length_unit="bytes"``, so the
  delivery service splits long Arabic replies by bytes;
- read receipts arrive as ``messaging_seen`` (``read.mid``), story replies as ``reply_to.story``;
- ``entry.id`` is the Instagram professional account id, thread ``IG_ID:IGSID``;
- the reply goes to ``/me/messages``: "me" resolves to the account the token belongs to in both
  integration paths (Instagram Login on graph.instagram.com, or a Page token on graph.facebook.com,
  where the webhook's IG id is not the node to post to). Token: ``TAWASUL_INSTAGRAM_TOKEN``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, ClassVar

from connectors.base import Capabilities, OutboundMessage
from connectors.meta.graph import Channel
from connectors.meta.messenger import MessengerConnector
from connectors.meta.policy import HUMAN_AGENT_WINDOW, STANDARD_WINDOW

if TYPE_CHECKING:
    from hub.config import Settings


class InstagramConnector(MessengerConnector):
    name: ClassVar[str] = "instagram"
    capabilities: ClassVar[Capabilities] = Capabilities(
        max_text_length=1000,
        length_unit="bytes",  # Instagram counts UTF-8 bytes: an Arabic letter is two
        messaging_window=STANDARD_WINDOW,
        human_agent_window=HUMAN_AGENT_WINDOW,
        rich_types=frozenset({"buttons", "quick_replies"}),
        can_initiate=False,
        rate_per_s=20.0,
        burst=10,
    )
    webhook_object: ClassVar[str] = "instagram"
    channel: ClassVar[Channel] = Channel("Instagram", "TAWASUL_INSTAGRAM_TOKEN")
    quotes_replies: ClassVar[bool] = False  # not part of the Instagram send reference we build on

    @classmethod
    def _token(cls, settings: Settings) -> str | None:
        token = settings.instagram_token
        return token.get_secret_value() if token else None

    def _send_path(self, message: OutboundMessage) -> str:
        return "me/messages"
