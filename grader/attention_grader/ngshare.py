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
instructor's side); students' servers call ``attention_course.ngshare_client.configure``
(the student package, so that no grader code is on their servers; the README's hub recipe).
Nothing here is imported otherwise.

Three client classes are the course's own. ngshare_exchange's submit and release log an
error and then end with success (exit status 0, "Submitted"/"Released" missing but nothing
failed), and its collect trusts the file list a student sent: a submission holding a folder
``timestamp.txt/`` stops ``nbgrader collect`` for every student after her (and leaves her own
folder without a time, so without a late penalty); a failed download deletes the previously
collected submission.

:class:`CheckedSubmit` (in ``attention_course.ngshare_client``)
    ``nbgrader submit`` that fails (non-zero exit status, an error naming what happened and
    that nothing was handed in) when the service did not store the submission.
:class:`CheckedReleaseAssignment`
    ``nbgrader release_assignment`` that fails unless the service then lists the assignment
    with every released notebook (which also catches a service that answers success and
    stores nothing).
:class:`CheckedCollect`
    ``nbgrader collect`` that unpacks each submission into a staging folder, refuses it
    alone (kept out of ``submitted/``, logged, recorded in ``exchange_refusals.jsonl`` like
    the filesystem exchange's refusals) when a path is not a plain relative path of safe
    names or it breaks the intake's limits, drops whatever the student sent as
    ``timestamp.txt`` and writes the server's time there, and replaces a collected
    submission only once the new one is complete.
"""

from __future__ import annotations

import base64
import binascii
import datetime
import json
import os
import shutil
import tempfile
from pathlib import Path

from nbgrader.utils import find_all_notebooks

# ngshare_client gives ngshare_exchange the user name its import needs, then imports it
from attention_course import ngshare_client
from attention_course.ngshare_client import CheckedSubmit

from . import intake
from .exchange import REFUSALS

__all__ = ["CheckedCollect", "CheckedReleaseAssignment", "CheckedSubmit", "configure"]


def configure(c, url: str) -> None:
    """The instructor's side: students' configuration (``attention_course.ngshare_client``:
    ngshare_exchange's classes with the checked submit) plus the checked release_assignment
    and collect of this module. Replaces the filesystem exchange's classes (``SafeCollect``,
    ``SafeReleaseFeedback``): under ngshare, identity and time come from the service, and
    the intake gate still checks what collect brought."""
    ngshare_client.configure(c, url)
    c.ExchangeFactory.release_assignment = "attention_grader.ngshare.CheckedReleaseAssignment"
    c.ExchangeFactory.collect = "attention_grader.ngshare.CheckedCollect"


class CheckedReleaseAssignment(ngshare_client.ngshare_exchange.ExchangeReleaseAssignment):
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


class _Refusal(Exception):
    def __init__(self, kind: str, reason: str) -> None:
        super().__init__(reason)
        self.kind = kind
        self.reason = reason


class CheckedCollect(ngshare_client.ngshare_exchange.ExchangeCollect):
    """``nbgrader collect`` through ngshare where one submission can only refuse itself (see
    the module docstring). Who: the service's student id (from the hub token at submit
    time); when: the service's time of the newest submission, written into
    ``timestamp.txt`` (``--update`` compares those)."""

    def copy_files(self) -> None:
        course, assignment = self.coursedir.course_id, self.coursedir.assignment_id
        self.limits = intake.IntakeLimits(
            max_file_bytes=min(
                intake.IntakeLimits.max_file_bytes, 1000 * self.coursedir.max_file_size
            ),
            max_total_bytes=min(
                intake.IntakeLimits.max_total_bytes, 1000 * self.coursedir.max_dir_size
            ),
        )
        if not self.src_records:
            self.log.warning(f"No submissions of '{assignment}' for course '{course}' to collect")
            return
        self.log.info(
            f"Processing {len(self.src_records)} submissions of '{assignment}' for course "
            f"'{course}'"
        )
        refused = 0
        for record in sorted(self.src_records, key=lambda r: str(r["student_id"])):
            student = record["student_id"]
            try:
                self._collect(student, record["timestamp"])
            except _Refusal as refusal:
                refused += 1
                self._refuse(student, refusal)
        if refused:
            self.log.warning(
                f"{refused} submission(s) of '{assignment}' refused; recorded in "
                f"{Path(self.coursedir.root) / REFUSALS}"
            )

    def _collect(self, student: str, when: datetime.datetime) -> None:
        assignment = self.coursedir.assignment_id
        try:
            intake.check_student_id(student)
        except intake.Refused as error:
            raise _Refusal("unsafe-id", str(error)) from None
        dest = Path(
            self.coursedir.format_path(self.coursedir.submitted_directory, student, assignment)
        )
        if dest.is_dir():
            existing = self.coursedir.get_existing_timestamp(str(dest))
            if not (self.update and (existing is None or when > existing)):
                if self.update:
                    self.log.info(f"No newer submission to collect: {student} {assignment}")
                else:
                    self.log.info(
                        f"Submission already exists, use --update to update: {student} {assignment}"
                    )
                return
        response = self.ngshare_api_get(
            f"/submission/{self.coursedir.course_id}/{assignment}/{student}"
        )
        if response is None:
            raise _Refusal("download", "the service did not hand the submission over")
        stamp = str(response.get("timestamp", ""))
        served = intake.plain_time(stamp)
        if served is None:
            raise _Refusal("time", f"the service's time {intake.shown(stamp)} is not a time")
        staging = Path(tempfile.mkdtemp(prefix=".collect-", dir=self.coursedir.root))
        try:
            self._unpack(response.get("files") or [], staging / "raw")
            (staging / "raw" / "timestamp.txt").write_text(stamp, encoding="utf-8")
            try:
                intake.copy_tree(staging / "raw", staging / "copy", self.limits)
            except intake.Refused as error:
                raise _Refusal("intake", str(error)) from None
            dest.parent.mkdir(parents=True, exist_ok=True)
            if dest.is_dir():
                self.log.info(f"Updating submission: {student} {assignment}")
                shutil.rmtree(dest)
            else:
                self.log.info(f"Collecting submission: {student} {assignment}")
            shutil.move(staging / "copy", dest)
            self.log.info(f"  submitted at {stamp} (the service's time)")
        finally:
            shutil.rmtree(staging, ignore_errors=True)

    def _unpack(self, files: list, raw: Path) -> None:
        """Write the service's file list under ``raw``: plain relative paths of safe names
        only, within the intake's limits; the student's own ``timestamp.txt`` (or anything
        under that name) is left out."""
        raw.mkdir(mode=0o700)
        if not isinstance(files, list) or len(files) > self.limits.max_files:
            raise _Refusal("intake", f"more than {self.limits.max_files} files")
        total = 0
        for item in files:
            path = item.get("path") if isinstance(item, dict) else None
            parts = path.split("/") if isinstance(path, str) else []
            if not parts or any(part in ("", ".", "..") for part in parts):
                raise _Refusal(
                    "path", f"the file name {intake.shown(path)} is not a plain relative path"
                )
            if any(part in intake.SKIPPED for part in parts):
                continue  # editors' and Python's leftovers, as the intake skips them
            if not all(intake.safe_name(part) for part in parts):
                raise _Refusal(
                    "path",
                    f"the file name {intake.shown(path)} holds a name outside the safe alphabet",
                )
            if len(parts) - 1 > self.limits.max_depth:
                raise _Refusal("intake", f"{intake.shown(path)}: folders nested too deep")
            if parts[0] == "timestamp.txt":
                self.log.info(f"  left out the student's own {intake.shown(path)}")
                continue
            content = item.get("content")
            if not isinstance(content, str) or len(content) // 4 * 3 > self.limits.max_file_bytes:
                raise _Refusal("intake", f"{intake.shown(path)} is too large or not a file")
            try:
                data = base64.b64decode(content, validate=False)
            except (binascii.Error, ValueError):
                raise _Refusal("intake", f"{intake.shown(path)} is not base64") from None
            if len(data) > self.limits.max_file_bytes:
                raise _Refusal("intake", f"{intake.shown(path)} is too large")
            total += len(data)
            if total > self.limits.max_total_bytes:
                raise _Refusal("intake", "the submission is too large")
            target = raw.joinpath(*parts)
            try:
                target.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
                fd = os.open(
                    target, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC
                )
            except OSError as error:
                raise _Refusal(
                    "path",
                    f"{intake.shown(path)} cannot be a file there ({error.strerror}: a name "
                    "used twice, or both as a file and as a folder)",
                ) from None
            with os.fdopen(fd, "wb") as handle:
                handle.write(data)

    def _refuse(self, student: str, refusal: _Refusal) -> None:
        course, assignment = self.coursedir.course_id, self.coursedir.assignment_id
        self.log.warning(
            f"REFUSED the submission of {intake.shown(student)} (ngshare): {refusal.reason}; "
            "an earlier collected submission is kept"
        )
        entry = {
            "at": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
            "command": "collect",
            "exchange": "ngshare",
            "course": course,
            "assignment": assignment,
            "student": intake.shown(student).strip("'"),
            "kind": refusal.kind,
            "reason": refusal.reason,
        }
        with open(Path(self.coursedir.root) / REFUSALS, "a", encoding="utf-8") as handle:
            handle.write(json.dumps(entry, sort_keys=True) + "\n")
