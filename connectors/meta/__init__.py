"""The Meta family: Facebook Messenger, Instagram messaging and the WhatsApp Cloud API.

One app secret signs every webhook and one verify token answers every handshake (``signature``);
one Graph API client sends and classifies errors (``graph``); one policy module knows the messaging
windows and button limits (``policy``). Each channel is a small connector on top of them.
"""

from connectors.meta.instagram import InstagramConnector
from connectors.meta.messenger import MessengerConnector
from connectors.meta.signature import SIGNATURE_HEADER, answer_challenge, meta_json, sign, verify_signature
from connectors.meta.whatsapp import WhatsAppConnector

__all__ = [
    "SIGNATURE_HEADER",
    "InstagramConnector",
    "MessengerConnector",
    "WhatsAppConnector",
    "answer_challenge",
    "meta_json",
    "sign",
    "verify_signature",
]
