"""The paging parameters of every list route."""

from __future__ import annotations

from typing import Annotated

from fastapi import Query

#: Far beyond any table, and well inside a 64-bit SQL integer: `offset=2**63` is a 422,
#: not an overflow in the database driver.
MAX_OFFSET = 2**31 - 1

Offset = Annotated[int, Query(ge=0, le=MAX_OFFSET, description="rows to skip")]
