"""The process's shared state for progressive transfers: what is arriving, what is wanted."""

from __future__ import annotations

from dataclasses import dataclass

from app.services.transfers.arriving import Arrivals
from app.services.transfers.demand import Demand


@dataclass(frozen=True)
class Hub:
    arrivals: Arrivals
    demand: Demand
