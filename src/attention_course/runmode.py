"""Run modes: a *fast* run (small subset, one epoch) or a *full* run.

Fast mode is on while nbgrader executes a notebook (``NBGRADER_EXECUTION`` is set
during ``validate`` and ``autograde``), and when ``COURSE_FAST=1`` (the test suite
sets it). ``COURSE_FAST=0`` forces a full run even under nbgrader.
"""

from __future__ import annotations

import os

FAST_ENV = "COURSE_FAST"


def under_nbgrader() -> bool:
    """True while nbgrader validates or autogrades this notebook."""
    return bool(os.environ.get("NBGRADER_EXECUTION"))


def fast_mode() -> bool:
    """True when expensive cells should use a small subset and one epoch."""
    value = os.environ.get(FAST_ENV, "").strip().lower()
    if value in {"1", "true", "yes", "on"}:
        return True
    if value in {"0", "false", "no", "off"}:
        return False
    return under_nbgrader()
