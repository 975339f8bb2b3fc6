"""Shared CLI plumbing: user-facing errors without tracebacks, default folders."""
from __future__ import annotations

import functools
import os
from pathlib import Path

import click

from lrh_tflm.data.record import DatasetError, RecordError
from lrh_tflm.leads import LeadError


def user_errors(fn):
    """Turn the library's user-facing exceptions into a clean click error (exit 1)."""

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        try:
            return fn(*args, **kwargs)
        except (DatasetError, RecordError, LeadError, FileNotFoundError, ValueError) as err:
            raise click.ClickException(str(err)) from None

    return wrapper


def default_cache_dir() -> Path:
    """Where prepared data and the synthetic default live (``$LRH_TFLM_CACHE`` or XDG cache)."""
    env = os.environ.get("LRH_TFLM_CACHE")
    if env:
        return Path(env)
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "lrh-tflm"
