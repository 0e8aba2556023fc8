"""Domain exceptions.

Every error a user can fix derives from :class:`PathfocusError`; the CLI prints its message as one
sentence and exits non-zero instead of showing a traceback. Messages name the bad value and the fix.
"""

from __future__ import annotations


class PathfocusError(Exception):
    """A problem with the user's input, files or environment that they can act on."""


class InputError(PathfocusError, ValueError):
    """A wrong path, folder layout, option value or table."""


class SlideError(PathfocusError):
    """A whole-slide image that cannot be opened or read (missing, truncated, not a slide)."""


class MissingMppError(SlideError):
    """A slide whose metadata has no microns-per-pixel; the user must pass ``--mpp``."""


class NoTissueError(SlideError):
    """A slide (or region) in which tissue detection found nothing to analyse."""


class CheckpointError(PathfocusError):
    """A run folder or checkpoint that does not match what the caller expects."""


class WeightsUnavailableError(PathfocusError):
    """Pretrained weights were asked for but cannot be had (offline, unknown name)."""
