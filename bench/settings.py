"""Settings of the bench's server processes: the product's settings, plus what only the
baselines need (a model for the save-per-message consumer, and one alias per channels-redis
layer so each baseline can name the layer it is written for)."""

from __future__ import annotations

from config.settings import *  # noqa: F403
from config.settings import CHANNEL_LAYERS, INSTALLED_APPS, REDIS_URL

INSTALLED_APPS = [*INSTALLED_APPS, "bench"]

if REDIS_URL:
    CHANNEL_LAYERS = {
        **CHANNEL_LAYERS,
        # The channels tutorial's layer, with its default capacity.
        "core": {
            "BACKEND": "channels_redis.core.RedisChannelLayer",
            "CONFIG": {"hosts": [REDIS_URL]},
        },
        "pubsub": {
            "BACKEND": "channels_redis.pubsub.RedisPubSubChannelLayer",
            "CONFIG": {"hosts": [REDIS_URL]},
        },
    }
