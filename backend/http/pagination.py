from __future__ import annotations

MAX_LIMIT = 200
