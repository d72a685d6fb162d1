"""Maintenance of the course notebooks: the Colab badge, the setup cell, hygiene.

The repository URL is one setting (``[tool.attention-course]`` in
``pyproject.toml``). Each notebook's first markdown cell carries an "Open in Colab"
badge and its locked setup cell starts with a generated header that installs the
course package when it runs in Colab. ``course sync-notebooks`` (``make sync``) rewrites both from
the setting; the test suite fails when a notebook is out of sync.
"""

from __future__ import annotations

import json
import re
import tomllib
from dataclasses import dataclass
from pathlib import Path

from . import cells

SETUP_GRADE_ID = "setup"
SETUP_MARKER = "# --- notebook imports ---"
BADGE_PATTERN = re.compile(r"^\[!\[Open in Colab\]\([^)]*\)\]\([^)]*\)[ \t]*$", re.M)
KERNELSPEC = {"display_name": "Python 3", "language": "python", "name": "python3"}


@dataclass(frozen=True)
class RepoSettings:
    repository: str  # e.g. https://github.com/OWNER/NAME
    branch: str

    @property
    def github_path(self) -> str:
        """``OWNER/NAME`` of a GitHub URL (Colab opens notebooks from GitHub)."""
        match = re.fullmatch(r"https://github\.com/([^/]+/[^/]+?)(?:\.git)?/?", self.repository)
        if not match:
            raise ValueError(
                f"repository {self.repository!r} in pyproject.toml is not a GitHub URL "
                "(https://github.com/OWNER/NAME); Colab badges need one."
            )
        return match.group(1)


def project_root() -> Path:
    """The repository root (the folder holding pyproject.toml)."""
    here = Path(__file__).resolve()
    for parent in here.parents:
        if (parent / "pyproject.toml").exists() and (parent / "source").is_dir():
            return parent
    raise FileNotFoundError("not inside the course repository (no pyproject.toml + source/)")


def repo_settings(root: Path | None = None) -> RepoSettings:
    """Read ``[tool.attention-course]`` from ``pyproject.toml``."""
    root = root or project_root()
    data = tomllib.loads((root / "pyproject.toml").read_text(encoding="utf-8"))
    table = data["tool"]["attention-course"]
    return RepoSettings(repository=table["repository"], branch=table.get("branch", "main"))


def colab_badge(settings: RepoSettings, assignment: str, notebook: str) -> str:
    """Markdown for the "Open in Colab" badge of ``release/<assignment>/<notebook>``."""
    url = (
        f"https://colab.research.google.com/github/{settings.github_path}/blob/"
        f"{settings.branch}/release/{assignment}/{notebook}"
    )
    return f"[![Open in Colab](https://colab.research.google.com/assets/colab-badge.svg)]({url})"


def setup_header(settings: RepoSettings, notebook: str) -> str:
    """The generated top of every setup cell (everything above ``SETUP_MARKER``)."""
    return f'''# Setup: run this cell first. It is read-only; nbgrader restores it before grading.
import os
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")  # keep TensorFlow's C++ log off stderr
COURSE_REPO = "{settings.repository}"  # set in pyproject.toml
if "google.colab" in sys.modules:  # self-study in Colab: install the course package once
    import importlib.util
    import subprocess

    if importlib.util.find_spec("attention_course") is None:
        try:
            subprocess.run(
                [sys.executable, "-m", "pip", "install", "--quiet",
                 f"attention-course @ git+{{COURSE_REPO}}@{settings.branch}"],
                check=True,
            )
        except subprocess.CalledProcessError:
            raise SystemExit(
                f"The course package could not be installed from {{COURSE_REPO}} (pip's message "
                "is above): check that this Colab runtime is connected to the internet, then "
                "run this cell again."
            ) from None
from attention_course.notebook import setup  # noqa: E402

SETTINGS = setup(seed=0, notebook="{notebook}")  # .fast: small data, one epoch (grading, tests)'''


def sync_notebook(nb: dict, settings: RepoSettings, assignment: str, notebook: str) -> bool:
    """Rewrite the badge and the setup header of ``nb`` in place; True if it changed."""
    changed = False
    first = nb["cells"][0]
    text = cells.source(first)
    badge = colab_badge(settings, assignment, notebook)
    if BADGE_PATTERN.search(text):
        new = BADGE_PATTERN.sub(badge, text, count=1)
    else:
        new = badge + "\n\n" + text
    if new != text:
        first["source"] = new
        changed = True
    cell = find_setup_cell(nb)
    src = "".join(cell["source"]) if isinstance(cell["source"], list) else cell["source"]
    if SETUP_MARKER not in src:
        raise ValueError(f"{notebook}: setup cell has no line {SETUP_MARKER!r}")
    tail = src.split(SETUP_MARKER, 1)[1]
    new_src = setup_header(settings, Path(notebook).stem) + "\n" + SETUP_MARKER + tail
    if new_src != src:
        cell["source"] = new_src
        changed = True
    return changed


def find_setup_cell(nb: dict) -> dict:
    """The locked setup cell (grade_id ``setup``)."""
    for cell in nb["cells"]:
        if cells.grade_id(cell) == SETUP_GRADE_ID:
            return cell
    raise ValueError("notebook has no setup cell (nbgrader grade_id 'setup')")


def source_notebooks(root: Path | None = None) -> list[Path]:
    """All instructor notebooks, ``source/<assignment>/<NN_name>.ipynb``, sorted."""
    root = root or project_root()
    return sorted((root / "source").glob("*/*.ipynb"))


def read_notebook(path: Path) -> dict:
    """Load a notebook as JSON, with a clear error when it does not parse."""
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as error:
        raise ValueError(f"{path} is not a valid notebook (JSON error: {error})") from None


def write_notebook(nb: dict, path: Path) -> None:
    """Write a notebook the way Jupyter does (1-space indent, trailing newline)."""
    path.write_text(json.dumps(nb, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")


def strip_notebook(nb: dict) -> bool:
    """Remove outputs, execution counts and widget state; set the plain kernelspec."""
    changed = False
    for cell in nb["cells"]:
        if cell["cell_type"] == "code":
            if cell.get("outputs") or cell.get("execution_count") is not None:
                changed = True
            cell["outputs"] = []
            cell["execution_count"] = None
        for key in ("execution", "collapsed", "scrolled"):
            if key in cell.get("metadata", {}):
                del cell["metadata"][key]
                changed = True
    meta = nb.setdefault("metadata", {})
    if meta.pop("widgets", None) is not None:
        changed = True
    if meta.get("kernelspec") != KERNELSPEC:
        meta["kernelspec"] = dict(KERNELSPEC)
        changed = True
    return changed


def sync_all(root: Path | None = None) -> list[Path]:
    """Strip and sync every notebook in ``source/`` and ``notebooks/``; return those changed."""
    root = root or project_root()
    settings = repo_settings(root)
    changed = []
    for path in source_notebooks(root):
        nb = read_notebook(path)
        a = strip_notebook(nb)
        b = sync_notebook(nb, settings, path.parent.name, path.name)
        if a or b:
            write_notebook(nb, path)
            changed.append(path)
    for path in sorted((root / "notebooks").glob("*.ipynb")):
        nb = read_notebook(path)
        if strip_notebook(nb):
            write_notebook(nb, path)
            changed.append(path)
    return changed
