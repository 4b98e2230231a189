"""Arabic-first NLU for the intake hub: normalise, identify language, classify intent, find entities.

Public entry point: `analyse(text) -> Analysis`, optionally after `configure(...)`. The package
knows nothing about channels or tickets; it turns one message's text into an `Analysis`.
"""

from nlu.engine import analyse, analyse_many, configure
from nlu.normalize import normalize
from nlu.pii import mask_pii
from nlu.types import CATEGORIES, DIALOGUE_INTENTS, INTENTS, Analysis, Entity

__all__ = [
    "CATEGORIES",
    "DIALOGUE_INTENTS",
    "INTENTS",
    "Analysis",
    "Entity",
    "analyse",
    "analyse_many",
    "configure",
    "mask_pii",
    "normalize",
]
