"""Docker-style generated container names (adjective_surname)."""

from __future__ import annotations

import random

ADJECTIVES = (
    "admiring", "brave", "busy", "clever", "eager", "elegant", "focused", "gallant", "happy",
    "jolly", "keen", "loving", "modest", "nifty", "quirky", "serene", "sharp", "vigilant",
)
SURNAMES = (
    "babbage", "cerf", "dijkstra", "hopper", "kahn", "lamport", "liskov", "lovelace", "metcalfe",
    "perlman", "postel", "ritchie", "shannon", "thompson", "turing", "wozniak",
)


def random_name(seed: str, taken: set[str]) -> str:
    rng = random.Random(seed)
    for attempt in range(1000):
        name = f"{rng.choice(ADJECTIVES)}_{rng.choice(SURNAMES)}"
        if attempt:
            name += str(rng.randint(1, 99))
        if name not in taken:
            return name
    return "container_" + seed[:12]
