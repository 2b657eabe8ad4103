"""Loading user code named in config as ``package.module:Name``."""

from __future__ import annotations

import importlib
from typing import Any


class PluginError(Exception):
    """A ``package.module:Name`` reference could not be loaded."""


def import_object(reference: str) -> Any:
    """Import and return the object a ``package.module:Name`` reference names."""
    module_name, _, attr = reference.partition(":")
    if not module_name or not attr:
        raise PluginError(f"{reference!r} is not of the form package.module:Name")
    try:
        return getattr(importlib.import_module(module_name), attr)
    except (ImportError, AttributeError) as exc:
        raise PluginError(f"cannot import {reference!r}: {exc}") from None
