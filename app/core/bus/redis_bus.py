"""The bus on Redis pub/sub: one channel per hub, one connection to listen on."""

from __future__ import annotations

import threading

from redis import Redis

from app.core.bus.base import Bus

#: Seconds the listener waits for a message before looking at its stop flag.
POLL_SECONDS = 0.5


class RedisBus(Bus):
    name = "redis"

    def __init__(self, url: str, channel: str) -> None:
        super().__init__()
        self.channel = channel
        # Named, so an operator (or a test) can find the hub's connections in CLIENT LIST.
        self._redis = Redis.from_url(
            url, socket_timeout=5, health_check_interval=30, client_name=f"slidebridge:{channel}"
        )

    def _transmit(self, text: str) -> None:
        self._redis.publish(self.channel, text)

    def _close(self) -> None:
        self._redis.close()

    def _listen(self, stop: threading.Event) -> None:
        pubsub = self._redis.pubsub(ignore_subscribe_messages=True)  # type: ignore[no-untyped-call]
        try:
            pubsub.subscribe(self.channel)
            # The first get_message confirms the subscription.
            pubsub.get_message(timeout=POLL_SECONDS)
            self._subscribed()
            while not stop.is_set():
                message = pubsub.get_message(timeout=POLL_SECONDS)
                if message is not None and message["type"] == "message":
                    data = message["data"]
                    self._received(data.decode() if isinstance(data, bytes) else str(data))
        finally:
            pubsub.close()
