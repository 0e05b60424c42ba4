"""The event bus between web processes, on the real Redis and PostgreSQL servers: what
one bus sends reaches the other's handlers once, long messages whole, and a process
never hears its own message twice."""

from __future__ import annotations

import asyncio
import queue
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import psycopg
import pytest
from redis import Redis
from sqlalchemy.engine import make_url

from app.core.bus import Bus
from app.core.bus.postgres_bus import PostgresBus
from app.core.bus.redis_bus import RedisBus
from app.services.live import RESYNC, LiveHub
from app.services.transfers.demand import Demand
from tests.conftest import POSTGRES_URL

REDIS_URL = "redis://127.0.0.1:6379/0"
WAIT = 10.0


def _make(kind: str, channel: str) -> Bus:
    if kind == "redis":
        return RedisBus(REDIS_URL, channel)
    return PostgresBus(
        make_url(POSTGRES_URL.replace("postgresql://", "postgresql+psycopg://")), channel
    )


@pytest.fixture(params=[pytest.param("redis", marks=pytest.mark.redis),
                        pytest.param("postgresql", marks=pytest.mark.postgres)])  # fmt: skip
def pair(request: pytest.FixtureRequest) -> Iterator[tuple[Bus, Bus]]:
    """Two buses on one channel, as two web processes have."""
    channel = f"test_bus_{uuid.uuid4().hex[:12]}"
    buses = (_make(request.param, channel), _make(request.param, channel))
    for bus in buses:
        bus.start()
        assert bus.listening.wait(WAIT)
    yield buses
    for bus in buses:
        bus.stop()


def _collect(bus: Bus, topic: str) -> queue.Queue[dict[str, Any]]:
    got: queue.Queue[dict[str, Any]] = queue.Queue()
    bus.on(topic, got.put)
    return got


def test_a_message_reaches_the_sender_and_the_other_process_once(pair: tuple[Bus, Bus]) -> None:
    one, other = pair
    here, there = _collect(one, "t"), _collect(other, "t")
    for number in range(20):
        one.send("t", {"n": number})
    assert [here.get_nowait()["n"] for _ in range(20)] == list(range(20))  # at once, in order
    assert [there.get(timeout=WAIT)["n"] for _ in range(20)] == list(range(20))
    other.send("t", {"n": "back"})
    assert here.get(timeout=WAIT) == {"n": "back"}
    assert there.get_nowait() == {"n": "back"}
    assert here.empty() and there.empty()  # neither heard its own message from the channel


def test_a_long_message_arrives_whole(pair: tuple[Bus, Bus]) -> None:
    """A case snapshot can pass PostgreSQL's 8000-byte notification limit."""
    one, other = pair
    there = _collect(other, "t")
    text = "".join(chr(ord("a") + n % 26) for n in range(50_000)) + "é€"
    one.send("t", {"text": text})
    assert there.get(timeout=WAIT) == {"text": text}


def test_viewer_wishes_reach_the_process_the_agent_asks(pair: tuple[Bus, Bus]) -> None:
    """A tile asked through one process puts its ranges first in the other's answer."""
    one, other = pair
    viewer_side, agent_side = Demand(), Demand()
    viewer_side.share_through(one)
    agent_side.share_through(other)
    heard = _collect(other, "demand.want")
    transfer = uuid.uuid4()
    viewer_side.want(transfer, [(100, 200), (300, 400)])
    heard.get(timeout=WAIT)
    assert agent_side.wanted(transfer, lambda start, end: False) == [(100, 200), (300, 400)]
    done = _collect(other, "demand.forget")
    viewer_side.forget(transfer)
    done.get(timeout=WAIT)
    assert agent_side.wanted(transfer, lambda start, end: False) == []


def test_the_process_bus_keeps_to_its_process() -> None:
    bus = Bus()
    got = _collect(bus, "t")
    bus.start()
    bus.send("t", {"n": 1})
    assert got.get_nowait() == {"n": 1}
    assert not bus.shared
    bus.stop()


def _cut_listener(bus: Bus) -> None:
    """Break the listener's connection from the server's side, as a Redis or PostgreSQL
    restart would."""
    if isinstance(bus, RedisBus):
        redis = Redis.from_url(REDIS_URL)
        for client in redis.client_list():
            if client["name"] == f"slidebridge:{bus.channel}" and client.get("sub") != "0":
                redis.client_kill_filter(_id=client["id"])
        return
    assert isinstance(bus, PostgresBus)
    with psycopg.connect(POSTGRES_URL, autocommit=True) as connection:
        connection.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = %s",
            (bus.channel,),
        )


def test_streams_close_to_catch_up_when_the_bus_lost_its_link(pair: tuple[Bus, Bus]) -> None:
    """Events sent while a listener was cut never reach it: its process's streams are
    closed (their clients reconnect and catch up from the database)."""
    one, _ = pair
    hub = LiveHub(one)

    async def stream_until_closed() -> list[str]:
        async with hub.subscribe(uuid.uuid4()) as queue:
            loop = asyncio.get_running_loop()
            await loop.run_in_executor(None, _cut_listener, one)
            return [await asyncio.wait_for(queue.get(), WAIT)]

    # On a thread of its own: the browser tests' Playwright may keep an event loop
    # running on this worker's main thread.
    with ThreadPoolExecutor(1) as pool:
        assert pool.submit(asyncio.run, stream_until_closed()).result(timeout=60) == [RESYNC]
    assert one.listening.wait(WAIT)
