"""The course's nbgrader configuration, and the error every grading step reports with."""

from __future__ import annotations

from pathlib import Path

from traitlets.config import Config
from traitlets.config.loader import PyFileConfigLoader


class GradingError(RuntimeError):
    """A step of the grading cycle cannot run (a message for the instructor)."""


def load_config(root: Path) -> Config:
    """The course's nbgrader configuration, as nbgrader itself reads it."""
    config = PyFileConfigLoader("nbgrader_config.py", path=str(root)).load_config()
    config.CourseDirectory.root = str(root)
    return config
