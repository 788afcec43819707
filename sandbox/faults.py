"""Fault and latency injection for the sandbox, set by environment variables or at run time.

| variable | meaning |
|---|---|
| SANDBOX_LATENCY_MS | added to every Graph call |
| SANDBOX_FAULT_429 | share (0..1) of Graph calls answered 429 with Retry-After |
| SANDBOX_RETRY_AFTER_S | the Retry-After the 429s carry (seconds) |
| SANDBOX_FAULT_503 | share answered 503 |
| SANDBOX_FAULT_HANG | share that hang for SANDBOX_HANG_S seconds, then answer 504 |
| SANDBOX_FAULT_RESET | share whose connection is dropped without an answer |
| SANDBOX_FAULT_LOST | share carried out, whose answer is then lost (the connection drops after the work) |
| SANDBOX_FAULT_SEED | random seed, for repeatable runs |
"""

from __future__ import annotations

import os
import random
from collections.abc import Mapping
from dataclasses import dataclass, field, fields


@dataclass
class Faults:
    latency_ms: float = 0.0
    rate_429: float = 0.0
    retry_after_s: float = 1.0
    rate_503: float = 0.0
    rate_hang: float = 0.0
    hang_s: float = 30.0
    rate_reset: float = 0.0
    rate_lost: float = 0.0
    seed: int | None = None
    _random: random.Random = field(default_factory=random.Random, repr=False, compare=False)

    def __post_init__(self) -> None:
        self._random = random.Random(self.seed)
        for name in ("rate_429", "rate_503", "rate_hang", "rate_reset", "rate_lost"):
            if not 0.0 <= getattr(self, name) <= 1.0:
                raise ValueError(f"{name} must be between 0 and 1")

    ENV = {"latency_ms": "SANDBOX_LATENCY_MS", "rate_429": "SANDBOX_FAULT_429",
           "retry_after_s": "SANDBOX_RETRY_AFTER_S", "rate_503": "SANDBOX_FAULT_503",
           "rate_hang": "SANDBOX_FAULT_HANG", "hang_s": "SANDBOX_HANG_S", "rate_reset": "SANDBOX_FAULT_RESET",
           "rate_lost": "SANDBOX_FAULT_LOST", "seed": "SANDBOX_FAULT_SEED"}

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Faults:
        env = os.environ if env is None else env
        values = {}
        for name, var in cls.ENV.items():
            if env.get(var, "").strip():
                values[name] = int(env[var]) if name == "seed" else float(env[var])
        return cls(**values)

    @classmethod
    def from_dict(cls, data: Mapping[str, object]) -> Faults:
        known = {f.name for f in fields(cls) if not f.name.startswith("_")}
        unknown = set(data) - known
        if unknown:
            raise ValueError(f"unknown fault settings: {sorted(unknown)}")
        return cls(**data)  # type: ignore[arg-type]

    def as_dict(self) -> dict[str, object]:
        return {f.name: getattr(self, f.name) for f in fields(self) if not f.name.startswith("_")}

    def roll(self, *, allow_connection_faults: bool = True) -> str | None:
        """The fault for one call: '429', '503', 'hang', 'reset', 'lost' or None."""
        r = self._random.random()
        for name, rate in (("429", self.rate_429), ("503", self.rate_503),
                           ("hang", self.rate_hang if allow_connection_faults else 0.0),
                           ("reset", self.rate_reset if allow_connection_faults else 0.0),
                           ("lost", self.rate_lost if allow_connection_faults else 0.0)):
            if r < rate:
                return name
            r -= rate
        return None
