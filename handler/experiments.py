"""Which arm of an A/B experiment a person is in: a salted hash of the experiment and the person, so the same
person gets the same arm on every request, in every process and across rebuilds of the same experiment, with
nothing stored. The API labels its answers with the arm (`variant`); `latentlens experiment report` recomputes
the arm of every person in the event store the same way, so the two cannot disagree.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from typing import Literal, get_args

from latentlens.handler.events.model import Person

Variant = Literal["champion", "challenger"]
CHAMPION, CHALLENGER = get_args(Variant)
NAME_PATTERN = re.compile(r"[A-Za-z0-9_-]{1,64}")
_SCALE = float(1 << 64)


@dataclass(frozen=True)
class Experiment:
    """An experiment: its name, the share of people in the challenger arm, and a salt that makes the split of a
    new experiment independent of an earlier one's (a new salt, new arms; the same salt, the same arms)."""

    name: str
    challenger_share: float = 0.5
    salt: str = ""

    def __post_init__(self) -> None:
        if not NAME_PATTERN.fullmatch(self.name):
            raise ValueError(f"experiment name {self.name[:80]!r}: 1 to 64 of A-Z a-z 0-9 _ -")
        if not 0 < self.challenger_share < 1:
            raise ValueError(f"challenger share must be between 0 and 1 (exclusive), not {self.challenger_share}")

    def position(self, person: Person) -> float:
        """The person's place in [0, 1): uniform over people, fixed by (salt, name, person)."""
        digest = hashlib.sha256(f"{self.salt}\x00{self.name}\x00{person.key}".encode()).digest()
        return int.from_bytes(digest[:8], "big") / _SCALE

    def arm(self, person: Person) -> Variant:
        return CHALLENGER if self.position(person) < self.challenger_share else CHAMPION
