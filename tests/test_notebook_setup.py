"""attention_course.notebook and attention_course.runmode: what every setup cell calls.

Fast vs full runs, the settings a notebook reads, warnings kept off stderr while nbgrader
runs, the Colab flag, and the notebook named by the setup cell (hidden checks need it).
In-process, no kernel.
"""

from __future__ import annotations

import logging
import random
import sys
import types
import warnings

import numpy as np
import pytest

from attention_course import notebook, runmode


def _set_env(monkeypatch, nbgrader_execution: str | None, course_fast: str | None) -> None:
    for name, value in (("NBGRADER_EXECUTION", nbgrader_execution), ("COURSE_FAST", course_fast)):
        if value is None:
            monkeypatch.delenv(name, raising=False)
        else:
            monkeypatch.setenv(name, value)


# --- runmode ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("nbgrader_execution", "course_fast", "fast"),
    [
        (None, None, False),
        ("autograde", None, True),
        ("validate", None, True),
        ("autograde", "0", False),
        ("autograde", "off", False),
        (None, "1", True),
        (None, "true", True),
        (None, " YES ", True),
        (None, "0", False),
        (None, "", False),
        (None, "maybe", False),
        ("autograde", "maybe", True),
    ],
)
def test_fast_mode(monkeypatch, nbgrader_execution, course_fast, fast):
    _set_env(monkeypatch, nbgrader_execution, course_fast)
    assert runmode.fast_mode() is fast
    assert runmode.under_nbgrader() is bool(nbgrader_execution)


def test_under_nbgrader_ignores_an_empty_variable(monkeypatch):
    monkeypatch.setenv("NBGRADER_EXECUTION", "")
    assert runmode.under_nbgrader() is False


# --- notebook.setup ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("nbgrader_execution", "course_fast", "fast", "grading_flag"),
    [
        (None, None, False, False),
        ("autograde", None, True, True),
        ("validate", "0", False, True),
        (None, "1", True, False),
    ],
)
def test_setup_settings_follow_the_environment(
    monkeypatch, restore_global_state, nbgrader_execution, course_fast, fast, grading_flag
):
    _set_env(monkeypatch, nbgrader_execution, course_fast)
    monkeypatch.delitem(sys.modules, "google.colab", raising=False)
    with warnings.catch_warnings():
        settings = notebook.setup(seed=5)
        first_random, first_numpy = random.random(), np.random.rand()
    assert (settings.fast, settings.grading, settings.colab, settings.seed) == (
        fast,
        grading_flag,
        False,
        5,
    )
    assert first_random == random.Random(5).random()
    assert first_numpy == np.random.RandomState(5).rand()


def test_setup_reports_colab(monkeypatch, restore_global_state):
    monkeypatch.setitem(sys.modules, "google.colab", types.ModuleType("google.colab"))
    with warnings.catch_warnings():
        assert notebook.setup(seed=0).colab is True


def test_setup_quiets_library_loggers(restore_global_state):
    for name in ("tensorflow", "keras"):
        logging.getLogger(name).setLevel(logging.DEBUG)
    with warnings.catch_warnings():
        notebook.setup(seed=0)
    assert logging.getLogger("tensorflow").level == logging.ERROR
    assert logging.getLogger("keras").level == logging.ERROR


def _warnings_after_setup(monkeypatch, nbgrader_execution: str | None) -> list[str]:
    if nbgrader_execution is None:
        monkeypatch.delenv("NBGRADER_EXECUTION", raising=False)
    else:
        monkeypatch.setenv("NBGRADER_EXECUTION", nbgrader_execution)
    saved = list(warnings.filters)
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")  # what a fresh kernel would show
            notebook.setup(seed=0)
            warnings.warn("a plain user warning", UserWarning, stacklevel=1)
            warnings.warn("an old API", DeprecationWarning, stacklevel=1)
    finally:
        warnings.filters[:] = saved
        warnings._filters_mutated()
    return [f"{w.category.__name__}: {w.message}" for w in caught]


def test_setup_under_nbgrader_silences_every_warning(monkeypatch, restore_global_state):
    assert _warnings_after_setup(monkeypatch, "autograde") == []
    assert _warnings_after_setup(monkeypatch, "validate") == []


def test_setup_outside_nbgrader_keeps_user_warnings(monkeypatch, restore_global_state):
    # the contrast that makes the test above meaningful
    assert _warnings_after_setup(monkeypatch, None) == ["UserWarning: a plain user warning"]


def test_setup_names_the_active_notebook(restore_global_state):
    assert notebook.active_notebook() is None  # no setup cell ran yet
    with warnings.catch_warnings():
        settings = notebook.setup(seed=0, notebook="03_reweighing")
    assert settings.notebook == "03_reweighing"
    assert notebook.active_notebook() == "03_reweighing"
    with warnings.catch_warnings():
        notebook.setup(seed=0, notebook="05_imdb_attention")
    assert notebook.active_notebook() == "05_imdb_attention"  # the last setup cell wins


def test_setup_without_a_notebook_keeps_the_active_one(restore_global_state):
    with warnings.catch_warnings():
        notebook.setup(seed=0, notebook="01_tokenization")
        settings = notebook.setup(seed=1)
    assert settings.notebook is None
    assert notebook.active_notebook() == "01_tokenization"


_IMPORT_TF = (
    "import sys\n"
    "{before}\n"
    "import tensorflow, keras, numpy\n"
    "keras.layers.Dense(2)(numpy.ones((1, 3), 'float32'))\n"
    "print('done', file=sys.stderr)\n"
)


@pytest.mark.slow
def test_tensorflows_import_banner_stays_off_stderr_after_setup(tmp_path):
    """TensorFlow's C++ libraries print a banner to file descriptor 2 when imported, whatever
    TF_CPP_MIN_LOG_LEVEL says (a Jupyter kernel shows it in red under the setup cell). Without
    setup() it is there (so this test sees it); after setup() nothing but our own line is."""
    import subprocess

    def stderr_of(before: str) -> str:
        done = subprocess.run(
            [sys.executable, "-c", _IMPORT_TF.format(before=before)],
            capture_output=True,
            text=True,
            timeout=300,
            cwd=tmp_path,
            env={"PATH": "/usr/bin:/bin", "TF_CPP_MIN_LOG_LEVEL": "3", "HOME": str(tmp_path)},
        )
        assert done.returncode == 0, done.stderr[-2000:]
        return done.stderr

    bare = stderr_of("pass")
    assert "absl" in bare or "oneDNN" in bare, "TensorFlow printed no banner: nothing to hide"
    quiet = stderr_of("from attention_course.notebook import setup\nsetup(seed=0)")
    assert quiet.strip() == "done", quiet
