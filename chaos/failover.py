"""Client-side gateway failover: a charger that cannot reach its gateway tries the next one.

Chargers in the field are given one URL behind a load balancer; here the chaos suite gives each
charger the list of gateways and, while it is offline, points it at the next one (the charger
reads `config.url` at every connection attempt).
"""

from __future__ import annotations

import asyncio

from chargers import Charger

CHECK_S = 1.5


async def follow_gateways(charger: Charger, urls: list[str]) -> None:
    """While `charger` is offline, move it to the next gateway URL every `CHECK_S`."""
    index = urls.index(charger.config.url) if charger.config.url in urls else 0
    while True:
        await asyncio.sleep(CHECK_S)
        if not charger.online:
            index = (index + 1) % len(urls)
            charger.config.url = urls[index]
