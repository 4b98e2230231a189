"""Channel name -> connector. The only place that knows which connectors exist."""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING

from connectors.base import Connector
from connectors.botframework import BotFrameworkConnector
from connectors.meta import InstagramConnector, MessengerConnector, WhatsAppConnector
from connectors.portal import PortalConnector
from connectors.snapchat import SnapchatConnector
from connectors.telegram import TelegramConnector
from connectors.twitter import TwitterConnector

if TYPE_CHECKING:
    from hub.config import Settings

CONNECTOR_CLASSES: tuple[type[Connector], ...] = (
    TelegramConnector,
    PortalConnector,
    MessengerConnector,
    InstagramConnector,
    WhatsAppConnector,
    TwitterConnector,
    SnapchatConnector,
    BotFrameworkConnector,
)
KNOWN_CHANNELS: frozenset[str] = frozenset(name for cls in CONNECTOR_CLASSES for name in (cls.name, *cls.aliases))


class UnknownChannel(LookupError):
    """No such channel, or the channel's credentials are not configured."""

    def __init__(self, name: str, *, known: bool) -> None:
        self.name = name
        self.known = known
        super().__init__(
            f"channel {name!r} is not enabled (set its credentials)" if known else f"unknown channel {name!r}"
        )


class ConnectorRegistry:
    """The enabled connectors of one process."""

    def __init__(self, connectors: dict[str, Connector]) -> None:
        self._connectors = connectors

    @classmethod
    def from_settings(cls, settings: Settings) -> ConnectorRegistry:
        enabled: dict[str, Connector] = {}
        for connector_cls in CONNECTOR_CLASSES:
            connector = connector_cls.from_settings(settings)
            if connector is not None:
                # One connector may serve several channel names (Bot Framework: skype, msteams, webchat).
                for name in (connector_cls.name, *connector_cls.aliases):
                    enabled[name] = connector
        return cls(enabled)

    def get(self, name: str) -> Connector:
        try:
            return self._connectors[name]
        except KeyError:
            raise UnknownChannel(name, known=name in KNOWN_CHANNELS) from None

    def __iter__(self) -> Iterator[Connector]:
        return iter({id(c): c for c in self._connectors.values()}.values())

    def __contains__(self, name: object) -> bool:
        return name in self._connectors

    @property
    def names(self) -> list[str]:
        return sorted(self._connectors)

    async def aclose(self) -> None:
        for connector in self:
            await connector.aclose()
