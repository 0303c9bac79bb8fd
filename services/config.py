"""Start-up settings of a shop or gateway process, handed over by `harness shop` as a JSON
file named by the environment variable SERVICE_CONFIG (so forked gunicorn workers see it)."""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path

DEFAULT_TIME_SCALE = 1.0 / 60.0


@dataclass(frozen=True)
class ServiceConfig:
    """What a service needs to start: its URLs, data dir, keys, knobs, seed and time scale
    (wall seconds = protocol seconds × ``time_scale``)."""

    shop_url: str
    gateway_url: str
    data_dir: str
    admin_token: str
    seed: int = 0
    time_scale: float = DEFAULT_TIME_SCALE
    database: str = ""
    sign_method: str = "11"
    shop_faults: dict = field(default_factory=dict)
    gateway_faults: dict = field(default_factory=dict)

    @property
    def keys_dir(self) -> Path:
        return Path(self.data_dir) / "keys"

    def to_json(self) -> str:
        return json.dumps(self.__dict__, indent=2, sort_keys=True)

    @classmethod
    def from_env(cls) -> ServiceConfig:
        """Read the file named by $SERVICE_CONFIG."""
        path = os.environ.get("SERVICE_CONFIG")
        if not path:
            raise RuntimeError("SERVICE_CONFIG is not set: start the platform with `harness shop`")
        return cls(**json.loads(Path(path).read_text()))
