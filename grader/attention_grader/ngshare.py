"""The authenticated exchange: nbgrader's release/fetch/submit/collect/feedback through
ngshare, a JupyterHub service, instead of a shared folder.

Why: on a filesystem exchange the collector knows who handed a folder in only from its Unix
owner (``attention_grader.exchange.SafeCollect``). Where every student's server runs under
the same uid (containers sharing a volume), nothing on the filesystem tells students apart.
ngshare keeps the exchange in its own database and storage and takes, for every request,

- **who** from the hub: the request's JupyterHub API token names the user; the ``user``
  field a client sends is ignored, so a student cannot submit, read or fetch as another;
- **when** from its own clock: a submission's time is the moment the service stored it;
  ``collect`` writes that time into ``submitted/<student>/<assignment>/timestamp.txt``
  (after the student's files, so a ``timestamp.txt`` she handed in never survives) and
  ``collect --update`` compares those server times;
- **what** as data: files travel as base64 in JSON; the service refuses absolute paths and
  ``..`` (400), and a collected submission holds only regular files and folders (no link can
  be sent). What ``collect`` brings then passes the course's intake gate as any submission
  does (``course autograde``, stock ``nbgrader autograde``).

Tested with ngshare 0.6.0 on SQLAlchemy 1.4 (``requirements-hub.txt``; on SQLAlchemy 2 that
release answers every write with success and stores nothing), ngshare_exchange 0.5.2 and
nbgrader 0.9.6 on JupyterHub 6.1.1 (``tests/test_ngshare.py``).

Use: ``nbgrader_config.py`` calls :func:`configure` when ``COURSE_NGSHARE_URL`` is set (the
instructor's side); students' servers call it from their own nbgrader configuration (the
README's hub recipe). Nothing here is imported otherwise.

Two client classes are the course's own, because ngshare_exchange's log an error and then
end with success (exit status 0, "Submitted"/"Released" missing but nothing failed):

:class:`CheckedSubmit`
    ``nbgrader submit`` that fails (non-zero exit status, an error naming what happened and
    that nothing was handed in) when the service did not store the submission.
:class:`CheckedReleaseAssignment`
    ``nbgrader release_assignment`` that fails unless the service then lists the assignment
    with every released notebook (which also catches a service that answers success and
    stores nothing).
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
from nbgrader.utils import find_all_notebooks  # noqa: E402
from ngshare_exchange import ExchangeReleaseAssignment, ExchangeSubmit  # noqa: E402

__all__ = ["CheckedReleaseAssignment", "CheckedSubmit", "configure"]


def configure(c, url: str) -> None:
    """Make nbgrader's exchange ngshare at ``url`` (e.g.
    ``http://127.0.0.1:8000/services/ngshare``, or ``http://proxy-public/services/ngshare``
    on Kubernetes): every exchange class is ngshare_exchange's, but submit and
    release_assignment are the checked ones of this module. Replaces the filesystem
    exchange's classes (``SafeCollect``, ``SafeReleaseFeedback``): under ngshare, identity
    and time come from the service, and the intake gate still checks what collect brought."""
    if not url:
        raise ValueError("the ngshare URL is empty (COURSE_NGSHARE_URL)")
    ngshare_exchange.configureExchange(c, url.rstrip("/"))
    c.ExchangeFactory.submit = "attention_grader.ngshare.CheckedSubmit"
    c.ExchangeFactory.release_assignment = "attention_grader.ngshare.CheckedReleaseAssignment"


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


class CheckedReleaseAssignment(ExchangeReleaseAssignment):
    """``nbgrader release_assignment`` through ngshare that fails unless the service lists
    the assignment with every released notebook afterwards."""

    def copy_files(self) -> None:
        super().copy_files()
        course, assignment = self.coursedir.course_id, self.coursedir.assignment_id
        listed = self.ngshare_api_get(f"/assignments/{course}")
        if listed is None or assignment not in listed.get("assignments", []):
            self.fail(
                f"NOT RELEASED: the exchange service does not list {course}/{assignment} "
                "after the release (see the errors above; an ngshare on SQLAlchemy 2 answers "
                "success and stores nothing: use requirements-hub.txt)"
            )
        stored = self.ngshare_api_get(
            f"/assignment/{course}/{assignment}", params={"list_only": "true"}
        )
        stored_paths = {f["path"] for f in (stored or {}).get("files", [])}
        missing = sorted(set(find_all_notebooks(self.src_path)) - stored_paths)
        if stored is None or missing:
            self.fail(
                f"NOT RELEASED completely: the exchange service holds {course}/{assignment} "
                f"without {missing or 'its files'}; release again with --force"
            )
