"""Students' side of the ngshare exchange (a JupyterHub service): what a student's
``nbgrader_config.py`` calls on a hub whose exchange is ngshare.

    from attention_course import ngshare_client
    c = get_config()
    ngshare_client.configure(c, "http://<hub>/services/ngshare")
    c.CourseDirectory.course_id = "lesson5-attention"

It lives in the student package (no solution, no grader) so that students' servers need
nothing of the instructor's side. The instructor's configuration (``nbgrader_config.py``
with ``COURSE_NGSHARE_URL``) uses ``attention_grader.ngshare``, which adds the checked
release and collect. Importing this module imports ``ngshare_exchange`` (pinned in
``requirements.txt``); nothing else of the course imports it.
"""

from __future__ import annotations

import os
import pwd


def _ensure_user() -> None:
    """ngshare_exchange reads ``$JUPYTERHUB_USER`` or ``$USER`` when it is imported (a
    ``KeyError`` without both, e.g. in a container or a cron job): give it the hub user's
    name, else the account's. (The name only labels the local cache: the service takes the
    user from the API token.)"""
    if os.environ.get("JUPYTERHUB_USER") or os.environ.get("USER"):
        return
    try:
        os.environ["USER"] = pwd.getpwuid(os.getuid()).pw_name
    except KeyError:
        os.environ["USER"] = f"uid{os.getuid()}"


_ensure_user()

import ngshare_exchange  # noqa: E402  (needs the user name above)
from ngshare_exchange import ExchangeSubmit  # noqa: E402

__all__ = ["CheckedSubmit", "configure"]


def configure(c, url: str) -> None:
    """Make nbgrader's exchange ngshare at ``url`` (e.g.
    ``http://127.0.0.1:8000/services/ngshare``, or ``http://proxy-public/services/ngshare``
    on Kubernetes), with the checked submit of this module."""
    if not url:
        raise ValueError("the ngshare URL is empty")
    ngshare_exchange.configureExchange(c, url.rstrip("/"))
    c.ExchangeFactory.submit = "attention_course.ngshare_client.CheckedSubmit"
    if "Exchange" in c:  # the filesystem exchange's folder means nothing to ngshare's classes
        c.Exchange.pop("root", None)


class CheckedSubmit(ExchangeSubmit):
    """``nbgrader submit`` through ngshare that fails loudly when nothing was stored.

    ngshare_exchange's submit logs "Failed to submit." and returns, so the command exits 0
    and the Assignments tab shows no error: a student whose token expired, who is not
    enrolled, or whose hub is down believes she handed in. Here the command fails
    (``ExchangeError``: exit status 1, and the Assignments tab shows the message)."""

    def copy_files(self) -> None:
        self.timestamp = None
        super().copy_files()
        if not self.timestamp:
            self.fail(
                f"NOT SUBMITTED: the exchange service did not accept "
                f"{self.coursedir.course_id}/{self.coursedir.assignment_id} (see the error "
                "above: not enrolled in the course, the assignment not released, the hub "
                "session expired or the service unreachable). Nothing was handed in; your work "
                f"is unchanged in {self.src_path}. Try again, or tell your instructor."
            )
