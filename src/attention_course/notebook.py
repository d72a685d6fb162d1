"""What every notebook's setup cell calls: quiet logs, seeds, run mode.

nbgrader scores a test cell 0 when it writes to stderr, and TensorFlow/Keras log to
stderr. ``setup`` keeps library chatter out of the notebook; the setup cell itself
sets ``TF_CPP_MIN_LOG_LEVEL`` before TensorFlow is imported.
"""

from __future__ import annotations

import logging
import os
import random
import sys
import warnings
from dataclasses import dataclass

from . import runmode


@dataclass(frozen=True)
class Settings:
    """Run settings a notebook reads after its setup cell."""

    fast: bool  # small subset + one epoch (nbgrader runs, test suite)
    grading: bool  # nbgrader is executing the notebook (validate/autograde)
    colab: bool  # running in Google Colab
    seed: int
    notebook: str | None = None  # e.g. "03_reweighing": whose hidden checks run here


def quiet_libraries() -> None:
    """Silence TensorFlow/absl/Python warnings that would land on stderr."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    warnings.filterwarnings("ignore", category=DeprecationWarning)
    warnings.filterwarnings("ignore", category=FutureWarning)
    warnings.filterwarnings("ignore", module="keras")
    warnings.filterwarnings("ignore", module="tensorflow")
    for name in ("tensorflow", "absl", "keras", "h5py", "matplotlib"):
        logging.getLogger(name).setLevel(logging.ERROR)
    if runmode.under_nbgrader():
        # While grading, no library warning may reach a test cell's stderr.
        warnings.simplefilter("ignore")


def set_seeds(seed: int) -> None:
    """Seed Python, NumPy and (when already imported) Keras/TensorFlow."""
    random.seed(seed)
    try:
        import numpy as np

        np.random.seed(seed)
    except ImportError:  # pragma: no cover - numpy is a dependency
        pass
    if "keras" in sys.modules:
        sys.modules["keras"].utils.set_random_seed(seed)


_active: list[str] = []  # the notebook named by the last setup() in this kernel


def setup(seed: int = 0, notebook: str | None = None) -> Settings:
    """Prepare a notebook: quiet logs, seeds everywhere, report the run mode."""
    quiet_libraries()
    set_seeds(seed)
    if notebook:
        _active[:] = [notebook]
    return Settings(
        fast=runmode.fast_mode(),
        grading=runmode.under_nbgrader(),
        colab="google.colab" in sys.modules,
        seed=seed,
        notebook=notebook,
    )


def active_notebook() -> str | None:
    """The notebook whose setup cell ran last in this kernel (hidden checks need it)."""
    return _active[0] if _active else None
