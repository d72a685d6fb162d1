"""What every notebook's setup cell calls: quiet logs, seeds, run mode.

nbgrader scores a test cell 0 when it writes to stderr, and TensorFlow/Keras log to
stderr. ``setup`` keeps library chatter out of the notebook (TensorFlow's C++ banner at
import included, :func:`quiet_imports`); the setup cell itself sets ``TF_CPP_MIN_LOG_LEVEL``
before TensorFlow is imported.
"""

from __future__ import annotations

import importlib.abc
import importlib.machinery
import logging
import os
import random
import sys
import warnings
from dataclasses import dataclass
from typing import Any

from . import runmode


@dataclass(frozen=True)
class Settings:
    """Run settings a notebook reads after its setup cell."""

    fast: bool  # small subset + one epoch (nbgrader runs, test suite)
    grading: bool  # nbgrader is executing the notebook (validate/autograde)
    colab: bool  # running in Google Colab
    seed: int
    notebook: str | None = None  # e.g. "03_reweighing": whose hidden checks run here


QUIET_IMPORTS = ("tensorflow",)  # their C++ code logs to file descriptor 2 while imported


class _QuietLoader(importlib.abc.Loader):
    """Executes a module with file descriptor 2 pointed at ``/dev/null``: TensorFlow's C++
    libraries print a banner there at import (absl's "All log messages before
    absl::InitializeLog()...", oneDNN's notice) whatever ``TF_CPP_MIN_LOG_LEVEL`` says, and a
    Jupyter kernel shows descriptor 2 under the cell. Python exceptions still propagate."""

    def __init__(self, loader: importlib.abc.Loader) -> None:
        self.loader = loader

    def create_module(self, spec: importlib.machinery.ModuleSpec) -> Any:
        return self.loader.create_module(spec)

    def exec_module(self, module: Any) -> None:
        sys.stderr.flush()
        saved = os.dup(2)
        devnull = os.open(os.devnull, os.O_WRONLY)
        try:
            os.dup2(devnull, 2)
            self.loader.exec_module(module)
        finally:
            os.dup2(saved, 2)
            os.close(saved)
            os.close(devnull)


class _QuietImports(importlib.abc.MetaPathFinder):
    """Finds :data:`QUIET_IMPORTS` with the other finders and has them executed quietly."""

    def find_spec(self, name: str, path: Any = None, target: Any = None) -> Any:
        if name not in QUIET_IMPORTS:
            return None
        for finder in sys.meta_path:
            if finder is self or not hasattr(finder, "find_spec"):
                continue
            spec = finder.find_spec(name, path, target)
            if spec is not None:
                if spec.loader is not None and hasattr(spec.loader, "exec_module"):
                    spec.loader = _QuietLoader(spec.loader)
                return spec
        return None


def quiet_imports() -> None:
    """Import :data:`QUIET_IMPORTS` quietly from now on (once per process)."""
    if not any(isinstance(f, _QuietImports) for f in sys.meta_path):
        sys.meta_path.insert(0, _QuietImports())


def quiet_libraries() -> None:
    """Silence TensorFlow/absl/Python warnings that would land on stderr."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    quiet_imports()
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
