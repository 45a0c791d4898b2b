"""Installed versions of distributions, for provenance and cache keys."""

from __future__ import annotations

from importlib import metadata


def distribution_version(dist: str) -> str | None:
    """The installed version of distribution `dist`, or None when it is not installed."""
    try:
        return metadata.version(dist)
    except metadata.PackageNotFoundError:
        return None
