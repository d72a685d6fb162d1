"""A course root that holds its own ``grader/`` and ``src/`` (another checkout than the one
the environment installed): the installed packages are the ones grading uses.

``nbgrader_config.py`` puts the root's package folders on ``sys.path`` only when the packages
are not installed. It put them first unconditionally: the coordinator had imported the
installed ones already, but each local Dask worker inherits that path and imported the root's
copies, so its sandboxes bound the copy's ``attention_course`` folder while the kernel's Python
looked for the installed one: every notebook's setup cell failed with ``No module named
'attention_course'`` (found by a helper grading a fresh clone with the main checkout's
environment)."""

from __future__ import annotations

import shutil
import subprocess
import sys

from conftest import ROOT

LOAD = """
import sys
from traitlets.config.loader import PyFileConfigLoader
PyFileConfigLoader("nbgrader_config.py", path=sys.argv[1]).load_config()
import attention_course, attention_grader
print(attention_course.__file__)
print(attention_grader.__file__)
print(sys.argv[1] + "/grader" in sys.path, sys.argv[1] + "/src" in sys.path)
"""


def test_the_configuration_keeps_the_installed_packages_over_the_roots_copies(tmp_path):
    root = tmp_path / "course"
    root.mkdir()
    shutil.copy(ROOT / "nbgrader_config.py", root)
    for package in ("grader/attention_grader", "src/attention_course"):
        (root / package).mkdir(parents=True)
        (root / package / "__init__.py").write_text(
            f"raise ImportError('the course root copy of {package} was imported')\n"
        )
    proc = subprocess.run(
        [sys.executable, "-c", LOAD, str(root)],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    course, grader, on_path = proc.stdout.splitlines()
    assert course.startswith(str(ROOT / "src" / "attention_course"))
    assert grader.startswith(str(ROOT / "grader" / "attention_grader"))
    assert on_path == "False False"
