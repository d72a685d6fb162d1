"""A Jupyter server extension: formgrader's own pages escape what they print.

nbgrader 0.9's formgrader renders its pages (``manage_students/<id>``, the gradebook, the
assignment lists) with a Jinja environment it builds without autoescaping, and prints the
student id from the URL into them: a student whose id is HTML (``<img onerror=...>``; stock
``nbgrader autograde`` and ``collect`` take ids from folder names) runs code in the instructor's
page when the instructor opens that student. This extension turns on autoescaping in that
environment once formgrader has built it (the ``formgrade`` page of a submission is rendered by
nbconvert and escaped by the course's template override instead, see :mod:`outputs`).

Enabled for every Jupyter server of the environment by
``etc/jupyter/jupyter_server_config.d/attention_grader.json``, which installing the grader
package puts there (as nbgrader enables formgrader).
"""

from __future__ import annotations

from typing import Any

SETTING = "nbgrader_jinja2_env"  # where formgrader keeps its Jinja environment


def _jupyter_server_extension_points() -> list[dict[str, str]]:
    return [{"module": "attention_grader.formgrader_guard"}]


def escape_formgrader_pages(serverapp: Any) -> bool:
    """Autoescape in formgrader's Jinja environment (templates compiled before are dropped);
    False when formgrader is not loaded."""
    env = serverapp.web_app.settings.get(SETTING)
    if env is None:
        return False
    env.autoescape = True
    if env.cache is not None:
        env.cache.clear()
    return True


def _load_jupyter_server_extension(serverapp: Any) -> None:
    # Extensions load in alphabetical order, so formgrader usually comes later: try now, and
    # again in the start hook below, which runs once every extension is loaded.
    escape_formgrader_pages(serverapp)


async def _start_jupyter_server_extension(serverapp: Any) -> None:
    if escape_formgrader_pages(serverapp):
        serverapp.log.info("attention_grader: formgrader's pages escape what they print")
    else:
        serverapp.log.info("attention_grader: formgrader is not loaded; nothing to escape")
