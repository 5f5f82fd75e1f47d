"""Where things live: the shipped defaults and the XDG directories (via platformdirs)."""

from __future__ import annotations

from pathlib import Path

import platformdirs

APP = "policywatch"
_HERE = Path(__file__).resolve().parent


def default_config_file() -> Path:
    """The shipped config.toml: inside the wheel as feeds/default_config.toml, or the
    repository's top-level config.toml in a source checkout or editable install."""
    packaged = _HERE / "default_config.toml"
    return packaged if packaged.is_file() else _HERE.parent / "config.toml"


def config_dir() -> Path:
    return Path(platformdirs.user_config_dir(APP, appauthor=False))


def data_dir() -> Path:
    return Path(platformdirs.user_data_dir(APP, appauthor=False))


def state_dir() -> Path:
    return Path(platformdirs.user_state_dir(APP, appauthor=False))


def default_db_path() -> Path:
    return data_dir() / "policywatch.db"


def cache_dir() -> Path:
    return Path(platformdirs.user_cache_dir(APP, appauthor=False))
