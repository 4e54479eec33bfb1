from __future__ import annotations

from dataclasses import dataclass
from typing import Generic, TypeVar

T = TypeVar("T")

MAX_LIMIT = 200


@dataclass
class Page(Generic[T]):
    items: list[T]
    total: int
    limit: int
    offset: int
