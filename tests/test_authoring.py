"""attention_grader.authoring: the Colab badge, the generated setup header, notebook sync.

The setup header of every source notebook is executed in-process with ``subprocess.run``
recorded, to prove it installs the course package in Colab only, and only when missing.
No kernel, no network.
"""

from __future__ import annotations

import copy
import importlib.util
import subprocess
import sys
import tomllib
import types
import warnings
from pathlib import Path

import pytest

from attention_course import notebook
from attention_grader import authoring, cells

ROOT = Path(__file__).resolve().parents[1]
SOURCE_NOTEBOOKS = sorted(ROOT.glob("source/*/*.ipynb"))


def _rel(path: Path) -> str:
    return str(path.relative_to(ROOT))


def _pyproject() -> dict:
    return tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))


def test_there_are_source_notebooks():
    assert SOURCE_NOTEBOOKS, "source/ holds no notebook"


# --- settings, badge ----------------------------------------------------------------------


def test_repo_settings_read_pyproject():
    table = _pyproject()["tool"]["attention-course"]
    settings = authoring.repo_settings(ROOT)
    assert (settings.repository, settings.branch) == (
        table["repository"],
        table.get("branch", "main"),
    )


def test_repo_settings_default_branch_is_main(tmp_path):
    (tmp_path / "pyproject.toml").write_text(
        '[tool.attention-course]\nrepository = "https://github.com/acme/nlp-course"\n',
        encoding="utf-8",
    )
    assert authoring.repo_settings(tmp_path) == authoring.RepoSettings(
        "https://github.com/acme/nlp-course", "main"
    )


def test_colab_badge_url():
    settings = authoring.RepoSettings("https://github.com/acme/nlp-course", "dev")
    badge = authoring.colab_badge(settings, "03_reweighing", "03_reweighing.ipynb")
    url = (
        "https://colab.research.google.com/github/acme/nlp-course/blob/dev/"
        "release/03_reweighing/03_reweighing.ipynb"
    )
    assert badge.endswith(f"({url})"), badge
    assert badge.startswith("[![Open in Colab](")
    assert authoring.BADGE_PATTERN.fullmatch(badge)


@pytest.mark.parametrize(
    "url",
    [
        "https://github.com/acme/nlp-course",
        "https://github.com/acme/nlp-course.git",
        "https://github.com/acme/nlp-course/",
    ],
)
def test_github_path_normalises_url(url):
    assert authoring.RepoSettings(url, "main").github_path == "acme/nlp-course"


@pytest.mark.parametrize(
    "url",
    [
        "https://gitlab.com/acme/nlp-course",
        "git@github.com:acme/nlp-course.git",
        "https://github.com/acme",
        "https://github.com/acme/nlp-course/tree/main",
    ],
)
def test_github_path_rejects_other_urls(url):
    with pytest.raises(ValueError, match="not a GitHub URL"):
        _ = authoring.RepoSettings(url, "main").github_path


# --- the setup header, executed -----------------------------------------------------------


def _setup_header(path: Path) -> str:
    nb = authoring.read_notebook(path)
    source = cells.source(authoring.find_setup_cell(nb))
    assert authoring.SETUP_MARKER in source, f"{_rel(path)}: setup cell lacks the marker"
    return source.split(authoring.SETUP_MARKER, 1)[0]


def _run_setup_header(
    path: Path, monkeypatch, colab: bool, installed: bool, pip_fails: bool = False
) -> tuple[list[tuple[tuple, dict]], dict]:
    """Execute the setup cell's generated header with subprocess.run recorded (``pip_fails``:
    it raises as ``subprocess.run(..., check=True)`` does when pip exits with status 1)."""
    calls: list[tuple[tuple, dict]] = []

    def record(*args, **kwargs):
        calls.append((args, kwargs))
        command = args[0] if args else kwargs.get("args")
        if pip_fails and kwargs.get("check"):
            raise subprocess.CalledProcessError(1, command)
        return subprocess.CompletedProcess(command, 0)

    real_find_spec = importlib.util.find_spec

    def find_spec(name, package=None):
        if name == "attention_course" and not installed:
            return None
        return real_find_spec(name, package)

    monkeypatch.setattr(subprocess, "run", record)
    monkeypatch.setattr(importlib.util, "find_spec", find_spec)
    if colab:
        if "google" not in sys.modules:
            monkeypatch.setitem(sys.modules, "google", types.ModuleType("google"))
        monkeypatch.setitem(sys.modules, "google.colab", types.ModuleType("google.colab"))
    else:
        monkeypatch.delitem(sys.modules, "google.colab", raising=False)
    namespace: dict = {"__name__": "__main__"}
    with warnings.catch_warnings():
        exec(compile(_setup_header(path), f"{path}:setup", "exec"), namespace)
    return calls, namespace


@pytest.mark.parametrize("path", SOURCE_NOTEBOOKS, ids=_rel)
def test_setup_header_installs_the_course_package_in_colab(path, monkeypatch, restore_global_state):
    settings = authoring.repo_settings(ROOT)
    distribution = _pyproject()["project"]["name"]
    calls, namespace = _run_setup_header(path, monkeypatch, colab=True, installed=False)
    expected = [
        sys.executable,
        "-m",
        "pip",
        "install",
        "--quiet",
        f"{distribution} @ git+{settings.repository}@{settings.branch}",
    ]
    assert len(calls) == 1, f"{_rel(path)}: expected one pip command, recorded {calls}"
    args, kwargs = calls[0]
    command = args[0] if args else kwargs.get("args")
    assert list(command) == expected
    assert kwargs.get("check") is True, f"{_rel(path)}: a failed pip install must stop the cell"
    assert namespace["SETTINGS"].colab is True


@pytest.mark.parametrize("path", SOURCE_NOTEBOOKS, ids=_rel)
def test_setup_header_installs_nothing_outside_colab(path, monkeypatch, restore_global_state):
    calls, namespace = _run_setup_header(path, monkeypatch, colab=False, installed=False)
    assert calls == [], f"{_rel(path)}: ran {calls} outside Colab"
    assert namespace["SETTINGS"].colab is False


@pytest.mark.parametrize("path", SOURCE_NOTEBOOKS, ids=_rel)
def test_setup_header_skips_the_install_when_the_package_is_present(
    path, monkeypatch, restore_global_state
):
    calls, _ = _run_setup_header(path, monkeypatch, colab=True, installed=True)
    assert calls == [], f"{_rel(path)}: reinstalled an importable package: {calls}"


@pytest.mark.parametrize("path", SOURCE_NOTEBOOKS, ids=_rel)
def test_setup_header_names_its_notebook(path, monkeypatch, restore_global_state):
    _, namespace = _run_setup_header(path, monkeypatch, colab=False, installed=True)
    assert namespace["SETTINGS"].notebook == path.stem
    assert notebook.active_notebook() == path.stem


# --- sync ---------------------------------------------------------------------------------


@pytest.mark.parametrize("path", SOURCE_NOTEBOOKS, ids=_rel)
def test_sync_of_a_source_notebook_changes_nothing(path):
    nb = authoring.read_notebook(path)
    synced = copy.deepcopy(nb)
    changed = authoring.sync_notebook(
        synced, authoring.repo_settings(ROOT), path.parent.name, path.name
    )
    assert changed is False, f"{_rel(path)}: out of sync with pyproject.toml (`make sync`)"
    assert synced == nb


def test_sync_rewrites_badge_and_header_for_other_settings_and_back():
    path = SOURCE_NOTEBOOKS[0]
    original = authoring.read_notebook(path)
    settings = authoring.repo_settings(ROOT)
    fork = authoring.RepoSettings("https://github.com/acme/fork", "dev")
    nb = copy.deepcopy(original)
    assert authoring.sync_notebook(nb, fork, path.parent.name, path.name) is True
    badge = authoring.colab_badge(fork, path.parent.name, path.name)
    assert cells.source(nb["cells"][0]).startswith(badge + "\n")
    header = cells.source(authoring.find_setup_cell(nb))
    assert header.startswith(authoring.setup_header(fork, path.stem) + "\n")
    assert "https://github.com/acme/fork" in header and settings.repository not in header
    # the student's part of the setup cell, below the marker, is kept as it was
    tail = cells.source(authoring.find_setup_cell(original)).split(authoring.SETUP_MARKER, 1)[1]
    assert header.endswith(authoring.SETUP_MARKER + tail)
    assert authoring.sync_notebook(nb, fork, path.parent.name, path.name) is False  # idempotent
    assert authoring.sync_notebook(nb, settings, path.parent.name, path.name) is True
    assert nb == original


def test_sync_adds_a_missing_badge_above_the_first_cell():
    path = SOURCE_NOTEBOOKS[0]
    original = authoring.read_notebook(path)
    nb = copy.deepcopy(original)
    text = cells.source(nb["cells"][0])
    nb["cells"][0]["source"] = authoring.BADGE_PATTERN.sub("", text, count=1).lstrip("\n")
    assert not authoring.BADGE_PATTERN.search(cells.source(nb["cells"][0]))
    settings = authoring.repo_settings(ROOT)
    assert authoring.sync_notebook(nb, settings, path.parent.name, path.name) is True
    assert cells.source(nb["cells"][0]) == text


def test_sync_refuses_a_setup_cell_without_the_marker():
    path = SOURCE_NOTEBOOKS[0]
    nb = authoring.read_notebook(path)
    authoring.find_setup_cell(nb)["source"] = "from attention_course.notebook import setup\n"
    with pytest.raises(ValueError, match="setup cell has no line"):
        authoring.sync_notebook(nb, authoring.repo_settings(ROOT), path.parent.name, path.name)


@pytest.mark.parametrize("path", SOURCE_NOTEBOOKS, ids=_rel)
def test_setup_header_says_what_to_do_when_the_install_fails(
    path, monkeypatch, restore_global_state
):
    """In Colab without internet, pip fails: the locked setup cell says in one sentence what
    happened and what to do (no CalledProcessError traceback from a cell the student cannot
    read)."""
    with pytest.raises(SystemExit) as stopped:
        _run_setup_header(path, monkeypatch, colab=True, installed=False, pip_fails=True)
    message = str(stopped.value)
    settings = authoring.repo_settings(ROOT)
    assert settings.repository in message and "could not be installed" in message
    assert "run this cell again" in message and stopped.value.__cause__ is None
