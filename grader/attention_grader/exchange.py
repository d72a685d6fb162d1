"""nbgrader's exchange, made to know who handed a submission in and when.

On a hub every student can write straight into the exchange's ``inbound/`` folder (it is
``drwx-ws-wx``: nbgrader submit is a convenience, not a gate). A folder there is named
``<student>+<assignment>+<time>+<random>`` and holds ``timestamp.txt`` and
``submission_secret.txt``: every one of those is written by the student. Stock
``nbgrader collect`` believes the name (it only warns when the owner differs), installs the
student's ``timestamp.txt`` as the submission time and copies with ``shutil.copytree``,
following symlinks with the instructor's rights; stock ``release_feedback`` stops for the
whole class at the first collected submission without ``submission_secret.txt``.

The classes here replace them through ``nbgrader_config.py``
(``c.ExchangeFactory.collect``, ``.release_feedback`` and ``.release_assignment``), so the
stock commands and formgrader's buttons go through them. All three first refuse a course
folder in the exchange that is a symbolic link, another user's, or writable by everyone
(:func:`course_folder_problem`): stock nbgrader creates and writes under it, following links,
with the instructor's rights.

:class:`SafeCollect`
    - **Who**: the owner of the inbound folder (``lstat``, its ``st_uid``, named through
      ``pwd`` as the collecting process sees it). A folder whose name claims another student
      than its owner is refused, and so is a file inside it owned by someone else. A folder
      owned by the collecting user itself (or root) is taken as named: that is a single-user
      machine or the instructor's own test submission, which no student can create.
    - **When**: the latest change time (``st_ctime``) of the folder and of everything in it.
      Nobody but root can set a change time (``touch -d`` sets the modification time and
      moves the change time to *now*), so it is the earliest moment the submission had its
      present content. That time is written into ``submitted/<student>/<assignment>/
      timestamp.txt`` and the late policy charges from it. The student's own claims (the
      time in the folder's name and in its ``timestamp.txt``) are only checked: a claim
      earlier than the change time by more than :attr:`SafeCollect.clock_tolerance` seconds
      (the time ``nbgrader submit`` takes to copy, plus clock skew) is a backdated
      submission and is refused. ``collect --update`` compares these trusted times, so a
      backdated folder can never replace a collected submission.
    - **What**: only regular files and folders, through :func:`intake.copy_tree` (no symlink
      followed at any level, FIFOs and devices refused, limits on count, size, depth and
      names); a symlink or special file in ``inbound/`` itself is refused before anything is
      opened. Unsafe student ids (HTML, paths, control characters) are refused.
    Each refused folder is logged by collect (a warning naming folder, owner and reason) and
    appended as one JSON line to ``<course root>/exchange_refusals.jsonl``
    (:func:`refusals` reads it). A refused folder never stops the other students' collect;
    a student whose newest folder is refused keeps her previous collected submission, or her
    newest valid one is collected instead.

:class:`SafeReleaseFeedback`
    nbgrader names a released feedback file ``md5(submission_secret + notebook id).html``;
    ``nbgrader fetch_feedback`` finds it with the secret kept in the student's own cache
    (written by her ``nbgrader submit``). This class computes the same name, reading the
    secret from the feedback folder, else ``autograded/``, else ``submitted/`` (regular files
    only, never through a link). A submission without a usable secret (a hand-made folder)
    is skipped with a warning and a JSON line in the refusals file; every other student's
    feedback is still released and the command succeeds. Only ``<notebook>.html`` files of
    the assignment's notebooks are released, never other files of the feedback folder.
"""

from __future__ import annotations

import datetime
import glob
import json
import os
import pwd
import re
import shutil
import stat
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from nbgrader.api import Gradebook, MissingEntry
from nbgrader.exchange.default.collect import ExchangeCollect
from nbgrader.exchange.default.release_assignment import ExchangeReleaseAssignment
from nbgrader.exchange.default.release_feedback import ExchangeReleaseFeedback
from nbgrader.utils import check_mode, notebook_hash
from traitlets import Bool, Float, Unicode

from . import intake

REFUSALS = "exchange_refusals.jsonl"
"""The machine-readable record of refused exchange folders, in the course root."""

MAX_SECRET_BYTES = 4096
UTC = datetime.UTC


def refusals(root: Path, assignment: str | None = None) -> list[dict]:
    """The refusals recorded in ``root``'s :data:`REFUSALS` file, latest record per
    (assignment, folder or student, reason), oldest first; only ``assignment``'s if given."""
    path = Path(root) / REFUSALS
    if not path.exists():
        return []
    latest: dict[tuple, dict] = {}
    for line in path.read_text(encoding="utf-8", errors="replace").splitlines():
        try:
            record = json.loads(line)
        except ValueError:
            continue
        if not isinstance(record, dict):
            continue
        if assignment is not None and record.get("assignment") != assignment:
            continue
        key = (
            record.get("assignment"),
            record.get("folder") or record.get("student"),
            record.get("kind"),
        )
        latest.pop(key, None)
        latest[key] = record
    return list(latest.values())


def _record(root: str, entry: dict) -> None:
    entry = {"at": datetime.datetime.now(UTC).isoformat(timespec="seconds"), **entry}
    with open(Path(root) / REFUSALS, "a", encoding="utf-8") as handle:
        handle.write(json.dumps(entry, sort_keys=True) + "\n")


def _shown(text: object) -> str:
    """A student-made name as it may appear in a log line: printable ASCII, shortened."""
    text = str(text)
    shown = "".join(ch if 32 <= ord(ch) < 127 else f"\\x{ord(ch) & 0xFF:02x}" for ch in text)
    return shown[:120] + ("..." if len(shown) > 120 else "")


def _utc(seconds: float) -> datetime.datetime:
    """A POSIX time as nbgrader keeps times: a naive datetime in UTC."""
    return datetime.datetime.fromtimestamp(seconds, UTC).replace(tzinfo=None)


def _user(uid: int) -> str | None:
    try:
        return pwd.getpwuid(uid).pw_name
    except KeyError:
        return None


def course_folder_problem(course_path: str) -> str | None:
    """Why the exchange's ``<root>/<course>`` folder must not be used by this user's
    commands (None: it may, or it does not exist yet and nbgrader will make it). In a
    world-writable exchange a student can create it before the instructor's first release:
    as a symbolic link, root's ``release_assignment`` would make ``outbound/`` and a
    world-writable ``inbound/`` wherever it points (a student's ``conftest.py`` in the
    course repository's ``tests/``, run by root at the next ``make test``); as her own folder,
    she decides what is in it. Only a real folder of this user or of root passes, and not
    one that every user can write to."""
    try:
        info = os.lstat(course_path)
    except FileNotFoundError:
        return None
    if stat.S_ISLNK(info.st_mode):
        return f"{course_path} is a symbolic link, not the course's folder"
    if not stat.S_ISDIR(info.st_mode):
        return f"{course_path} is not a folder"
    if info.st_uid not in (os.geteuid(), 0):
        return f"{course_path} belongs to {_owner(info.st_uid)}, not to you or root"
    if info.st_mode & stat.S_IWOTH:
        return f"{course_path} is writable by every user"
    return None


def _owner(uid: int) -> str:
    try:
        return _shown(pwd.getpwuid(uid).pw_name)
    except KeyError:
        return f"uid {uid}"


class _OwnCourseFolder:
    """Refuses a course folder :func:`course_folder_problem` names, before an instructor's
    command creates or reads anything under it; says once when the exchange root lets any
    user rename what is in it (world-writable without the sticky bit)."""

    def _check_course_folder(self) -> None:
        problem = course_folder_problem(os.path.join(self.root, self.coursedir.course_id))
        if problem:
            self.fail(
                f"{problem}: refusing to use it. Remove it, then create it as the instructor "
                "(see the README: the exchange folder)"
            )
        try:
            mode = os.stat(self.root).st_mode
        except OSError:
            return
        if mode & stat.S_IWOTH and not mode & stat.S_ISVTX:
            self.log.warning(
                f"the exchange {self.root} is writable by every user without the sticky bit: "
                f"a student can replace {self.coursedir.course_id}/ between two commands "
                f"(chmod +t {self.root})"
            )


class SafeReleaseAssignment(_OwnCourseFolder, ExchangeReleaseAssignment):
    """``nbgrader release_assignment`` that refuses a course folder in the exchange that is a
    link, another user's, or writable by all (:func:`course_folder_problem`). Configure with
    ``c.ExchangeFactory.release_assignment =
    "attention_grader.exchange.SafeReleaseAssignment"``."""

    def init_dest(self) -> None:
        if self.coursedir.course_id:
            self._check_course_folder()
        super().init_dest()


class _Refusal(Exception):
    def __init__(self, kind: str, reason: str) -> None:
        super().__init__(reason)
        self.kind = kind
        self.reason = reason


def _unexpected(error: Exception) -> _Refusal:
    """A folder whose examination or copy raised (an unreadable entry, an odd filesystem): it
    alone is refused, the other students are collected."""
    return _Refusal(
        "unreadable", _shown(f"cannot be collected ({type(error).__name__}: {error})"[:400])
    )


@dataclass
class _Candidate:
    """One folder of ``inbound/`` that passed the checks that need no copy."""

    folder: str  # its name in inbound/
    student: str
    owner: str
    owner_uid: int
    trusted: datetime.datetime  # latest change time of the folder and its content (UTC)
    claims: dict[str, str] = field(default_factory=dict)  # what the student says


class SafeCollect(_OwnCourseFolder, ExchangeCollect):
    """``nbgrader collect`` that takes identity and time from the filesystem (see the
    module docstring). Configure with
    ``c.ExchangeFactory.collect = "attention_grader.exchange.SafeCollect"``; ``--update``
    and ``--before-duedate`` keep their meaning, on trusted times."""

    identity_from_owner = Bool(
        True,
        help="Refuse an inbound folder whose name claims another student than its Unix "
        "owner. Only set False where every student writes with the same uid (then nothing "
        "on a filesystem exchange tells students apart, see the README).",
    ).tag(config=True)

    clock_tolerance = Float(
        120.0,
        help="Seconds a student's claimed time (folder name, timestamp.txt) may precede the "
        "folder's change time before the folder counts as backdated and is refused.",
    ).tag(config=True)

    refusals_file = Unicode(
        "",
        help=f"Where refusals are appended as JSON lines (default: <course root>/{REFUSALS}).",
    ).tag(config=True)

    # ---------------------------------------------------------------- finding folders
    def init_src(self) -> None:
        if self.coursedir.course_id == "":
            self.fail("No course id specified. Re-run with --course flag.")
        self._check_course_folder()
        self.course_path = os.path.join(self.root, self.coursedir.course_id)
        self.inbound_path = os.path.join(self.course_path, "inbound")
        if not os.path.isdir(self.inbound_path):
            self.fail(f"Course not found: {self.inbound_path}")
        if not check_mode(self.inbound_path, read=True, execute=True):
            self.fail(f"You don't have read permissions for the directory: {self.inbound_path}")
        self.limits = intake.IntakeLimits(
            max_file_bytes=min(
                intake.IntakeLimits.max_file_bytes, 1000 * self.coursedir.max_file_size
            ),
            max_total_bytes=min(
                intake.IntakeLimits.max_total_bytes, 1000 * self.coursedir.max_dir_size
            ),
        )
        self.refused: list[dict] = []
        self.collector_uid = os.geteuid()
        assignment = self.coursedir.assignment_id
        wanted = self.coursedir.student_id or "*"
        pattern = os.path.join(glob.escape(self.inbound_path), f"{wanted}+{assignment}+*")
        by_student: dict[str, list[_Candidate]] = {}
        for path in sorted(glob.glob(pattern)):
            name = os.path.basename(path)
            try:
                candidate = self._examine(name)
            except _Refusal as refusal:
                self._refuse(name, refusal, claimed=name.split("+", 1)[0])
                continue
            except Exception as error:  # noqa: BLE001 - this folder alone is refused
                self._refuse(name, _unexpected(error), claimed=name.split("+", 1)[0])
                continue
            by_student.setdefault(candidate.student, []).append(candidate)

        with Gradebook(self.coursedir.db_url, self.coursedir.course_id) as gb:
            try:
                self.duedate = gb.find_assignment(assignment).duedate
            except MissingEntry:
                self.duedate = None
        # newest first; with --before-duedate the on-time ones first
        self.src_records = []
        for student, found in sorted(by_student.items()):
            found.sort(key=lambda c: c.trusted, reverse=True)
            if self.before_duedate and self.duedate is not None:
                found.sort(key=lambda c: c.trusted > self.duedate)
            self.src_records.append({"username": student, "candidates": found})

    def _examine(self, name: str) -> _Candidate:
        """The checks that need no copy: what the entry is, whose it is, its times."""
        parts = name.rsplit("+", 3)
        if len(parts) < 3 or parts[1] != self.coursedir.assignment_id:
            raise _Refusal("name", "the name is not <student>+<assignment>+<time>[+<random>]")
        student, _, claimed_name_time = parts[0], parts[1], parts[2]
        try:
            intake.check_student_id(student)
        except intake.Refused as error:
            raise _Refusal("unsafe-id", str(error)) from None
        path = os.path.join(self.inbound_path, name)
        try:
            st = os.lstat(path)
        except OSError as error:
            raise _Refusal("gone", f"cannot be examined ({error.strerror})") from None
        if not stat.S_ISDIR(st.st_mode):
            raise _Refusal(
                "not-a-folder",
                f"{intake.kind(st.st_mode)} in inbound/, not a submission folder; "
                "nothing behind it was opened",
            )
        owner = _user(st.st_uid)
        if owner is None:
            raise _Refusal("identity", f"owned by uid {st.st_uid}, which has no user name here")
        trusted_owner = st.st_uid in (self.collector_uid, 0)
        if self.identity_from_owner and not trusted_owner and owner != student:
            raise _Refusal(
                "identity", f"the folder claims to be {student}'s but was made by {owner}"
            )
        latest = self._latest_change(path, st, owner if not trusted_owner else None)
        claims = {"name": claimed_name_time}
        candidate = _Candidate(name, student, owner, st.st_uid, _utc(latest), claims)
        self._check_claim(candidate, "the time in its name", claimed_name_time)
        stamp = _read_small(Path(path) / "timestamp.txt")
        if stamp is not None:
            candidate.claims["timestamp.txt"] = stamp.strip()[:100]
            self._check_claim(candidate, "its timestamp.txt", stamp)
        return candidate

    def _latest_change(self, path: str, st: os.stat_result, owner: str | None) -> float:
        """The latest ``st_ctime`` in the folder (never following a link, bounded like the
        intake); refuses a link or special file, and a file not owned by ``owner``."""
        latest = st.st_ctime
        count = 0
        pending = [(path, "", 0)]
        while pending:
            folder, rel, depth = pending.pop()
            try:
                entries = list(os.scandir(folder))
            except OSError as error:
                raise _Refusal(
                    "intake", f"{rel or 'the folder'} cannot be listed ({error.strerror})"
                ) from None
            for entry in entries:
                count += 1
                child = f"{rel}/{entry.name}" if rel else entry.name
                if count > self.limits.max_files:
                    raise _Refusal("intake", f"more than {self.limits.max_files} files")
                try:
                    est = entry.stat(follow_symlinks=False)
                except OSError as error:  # a folder the collector may list but not enter
                    raise _Refusal(
                        "intake", f"{_shown(child)} cannot be examined ({error.strerror})"
                    ) from None
                if not (stat.S_ISDIR(est.st_mode) or stat.S_ISREG(est.st_mode)):
                    raise _Refusal(
                        "link-or-special",
                        f"{_shown(child)} is {intake.kind(est.st_mode)}: only regular files "
                        "are collected, nothing behind it was opened",
                    )
                if owner is not None and est.st_uid != st.st_uid:
                    raise _Refusal(
                        "identity",
                        f"{_shown(child)} belongs to {_user(est.st_uid) or est.st_uid}, "
                        f"not to {owner} who made the folder",
                    )
                latest = max(latest, est.st_ctime)
                if stat.S_ISDIR(est.st_mode):
                    if depth >= self.limits.max_depth:
                        raise _Refusal("intake", f"{_shown(child)}: folders nested too deep")
                    pending.append((entry.path, child, depth + 1))
        return latest

    def _check_claim(self, candidate: _Candidate, what: str, text: str) -> None:
        text = text.strip()
        claimed = intake.plain_time(text)
        if claimed is None:
            raise _Refusal("time", f"{what} is not a plain time: {_shown(text[:64])!r}")
        slack = datetime.timedelta(seconds=self.clock_tolerance)
        if claimed < candidate.trusted - slack:
            raise _Refusal(
                "backdated",
                f"{what} says {claimed:%Y-%m-%d %H:%M:%S} UTC but the folder's content was "
                f"last changed at {candidate.trusted:%Y-%m-%d %H:%M:%S} UTC",
            )

    # ---------------------------------------------------------------- collecting
    def init_dest(self) -> None:
        pass

    def copy_files(self) -> None:
        assignment = self.coursedir.assignment_id
        if not self.src_records:
            self.log.warning(
                f"No submissions of '{assignment}' for course '{self.coursedir.course_id}' "
                "to collect"
            )
        else:
            self.log.info(
                f"Processing {len(self.src_records)} students' submissions of '{assignment}' "
                f"for course '{self.coursedir.course_id}'"
            )
        for record in self.src_records:
            student = record["username"]
            for candidate in record["candidates"]:
                try:
                    self._collect(candidate)
                except Exception as error:  # noqa: BLE001 - this folder alone is refused
                    refusal = error if isinstance(error, _Refusal) else _unexpected(error)
                    self._refuse(candidate.folder, refusal, claimed=student, candidate=candidate)
                    continue  # the student's next newest folder
                break
        if self.refused:
            self.log.warning(
                f"{len(self.refused)} inbound folder(s) of '{assignment}' refused; "
                f"recorded in {self._refusals_path()}"
            )

    def _collect(self, candidate: _Candidate) -> None:
        student, assignment = candidate.student, self.coursedir.assignment_id
        dest = Path(
            self.coursedir.format_path(self.coursedir.submitted_directory, student, assignment)
        )
        existing = self.coursedir.get_existing_timestamp(str(dest)) if dest.is_dir() else None
        if dest.is_dir():
            replace = (self.update and (existing is None or candidate.trusted > existing)) or (
                self.before_duedate and existing != candidate.trusted
            )
            if not replace:
                if self.update:
                    self.log.info(f"No newer submission to collect: {student} {assignment}")
                else:
                    self.log.info(
                        f"Submission already exists, use --update to update: {student} {assignment}"
                    )
                return
        src = Path(self.inbound_path) / candidate.folder
        staging = Path(tempfile.mkdtemp(prefix=".collect-", dir=self.coursedir.root))
        try:
            try:
                intake.copy_tree(src, staging / "copy", self.limits)
            except intake.Refused as error:
                raise _Refusal("intake", str(error)) from None
            # Measured again after the copy: whatever changed while it was copied is seen.
            st = os.lstat(src)
            owner = None if st.st_uid in (self.collector_uid, 0) else candidate.owner
            if st.st_uid != candidate.owner_uid:
                raise _Refusal("identity", "the folder was replaced while it was collected")
            candidate.trusted = max(candidate.trusted, _utc(self._latest_change(src, st, owner)))
            copied = staging / "copy"
            stamp = copied / "timestamp.txt"
            if stamp.is_file():
                text = stamp.read_text(encoding="utf-8", errors="replace")[:200]
                candidate.claims["timestamp.txt"] = text.strip()[:100]
                self._check_claim(candidate, "its timestamp.txt", text)
            self._check_claim(candidate, "the time in its name", candidate.claims["name"])
            stamp.unlink(missing_ok=True)
            stamp.write_text(self._format(candidate.trusted), encoding="utf-8")
            if not (copied / "submission_secret.txt").is_file():
                self.log.warning(
                    f"{_shown(candidate.folder)} has no submission_secret.txt (not made by "
                    f"nbgrader submit): {student}'s feedback cannot be released through the "
                    "exchange"
                )
            if self.coursedir.groupshared:
                self._share(copied)
            dest.parent.mkdir(parents=True, exist_ok=True)
            if dest.is_dir():
                self.log.info(f"Updating submission: {student} {assignment}")
                shutil.rmtree(dest)
            else:
                self.log.info(f"Collecting submission: {student} {assignment}")
            shutil.move(copied, dest)
            self.log.info(
                f"  from {_shown(candidate.folder)}, owner {candidate.owner}, "
                f"submitted at {self._format(candidate.trusted)} (filesystem time)"
            )
        finally:
            shutil.rmtree(staging, ignore_errors=True)

    @staticmethod
    def _format(when: datetime.datetime) -> str:
        """Always UTC, in nbgrader's default format (a zone name such as ``-03`` that
        ``%Z`` gives for some zones is not a time the intake accepts)."""
        return when.strftime("%Y-%m-%d %H:%M:%S.%f UTC")

    @staticmethod
    def _share(folder: Path) -> None:
        for dirpath, _, filenames in os.walk(folder):
            os.chmod(dirpath, 0o2770)
            for name in filenames:
                os.chmod(os.path.join(dirpath, name), 0o660)

    # ---------------------------------------------------------------- reporting
    def _refusals_path(self) -> Path:
        return Path(self.refusals_file or Path(self.coursedir.root) / REFUSALS)

    def _refuse(
        self,
        folder: str,
        refusal: _Refusal,
        claimed: str,
        candidate: _Candidate | None = None,
    ) -> None:
        path = os.path.join(self.inbound_path, folder)
        try:
            owner_uid = os.lstat(path).st_uid
            owner = _user(owner_uid) or str(owner_uid)
        except OSError:
            owner = "?"
        entry = {
            "command": "collect",
            "course": self.coursedir.course_id,
            "assignment": self.coursedir.assignment_id,
            "folder": _shown(folder),
            "claimed_student": _shown(claimed),
            "owner": owner,
            "kind": refusal.kind,
            "reason": refusal.reason,
        }
        if candidate is not None:
            entry["filesystem_time"] = self._format(candidate.trusted)
            entry["claimed_times"] = {k: _shown(v) for k, v in candidate.claims.items()}
        self.refused.append(entry)
        self.log.warning(
            f"REFUSED {_shown(folder)} (claims {_shown(claimed)}, owner {owner}): {refusal.reason}"
        )
        path = self._refusals_path()
        path.parent.mkdir(parents=True, exist_ok=True)
        with open(path, "a", encoding="utf-8") as handle:
            stamp = datetime.datetime.now(UTC).isoformat(timespec="seconds")
            handle.write(json.dumps({"at": stamp, **entry}, sort_keys=True) + "\n")


def _read_small(path: Path) -> str | None:
    """A small regular file's text, never through a link; None otherwise."""
    flags = os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC
    try:
        fd = os.open(path, flags)
    except OSError:
        return None
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode) or st.st_size > MAX_SECRET_BYTES:
            return None
        return os.read(fd, MAX_SECRET_BYTES + 1).decode("utf-8", errors="replace")
    finally:
        os.close(fd)


class SafeReleaseFeedback(_OwnCourseFolder, ExchangeReleaseFeedback):
    """``nbgrader release_feedback`` that releases every student it can: a submission
    without a usable ``submission_secret.txt`` is skipped with a warning (and recorded),
    never the end of the command. Configure with
    ``c.ExchangeFactory.release_feedback = "attention_grader.exchange.SafeReleaseFeedback"``.
    """

    def init_dest(self) -> None:
        if self.coursedir.course_id:
            self._check_course_folder()
        super().init_dest()

    def copy_files(self) -> None:
        course, assignment = self.coursedir.course_id, self.coursedir.assignment_id
        exclude = set(filter(None, (self.coursedir.student_id_exclude or "").split(",")))
        notebooks = self._notebooks()
        regexp = re.escape(os.path.sep).join(
            [
                self.coursedir.format_path(
                    self.coursedir.feedback_directory,
                    "(?P<student_id>.*)",
                    assignment,
                    escape=True,
                ),
                "(?P<notebook_id>.*).html",
            ]
        )
        released = skipped = 0
        for html_file in sorted(glob.glob(os.path.join(self.src_path, "*.html"))):
            match = re.fullmatch(regexp, html_file)
            if match is None:
                self.log.error(f"Could not match '{html_file}' with regexp '{regexp}'")
                continue
            student, notebook_id = match["student_id"], match["notebook_id"]
            if student in exclude:
                self.log.debug(f"Skipping student '{student}'")
                continue
            if notebooks is not None and notebook_id not in notebooks:
                self.log.warning(
                    f"Not released: {_shown(html_file)} is not the feedback of a notebook of "
                    f"'{assignment}'"
                )
                continue
            secret = self._secret(student, Path(html_file).parent)
            if not secret:
                skipped += 1
                reason = (
                    "no usable submission_secret.txt in the collected submission (a folder "
                    "not made by nbgrader submit?): this feedback cannot be matched to the "
                    "student's fetch_feedback; hand it over another way"
                )
                self.log.warning(
                    f"Feedback NOT released for student '{_shown(student)}' on "
                    f"'{course}/{assignment}/{notebook_id}': {reason}"
                )
                _record(
                    self.coursedir.root,
                    {
                        "command": "release_feedback",
                        "course": course,
                        "assignment": assignment,
                        "student": _shown(student),
                        "notebook": _shown(notebook_id),
                        "kind": "no-secret",
                        "reason": reason,
                    },
                )
                continue
            checksum = notebook_hash(secret=secret, notebook_id=notebook_id)
            tmp = os.path.join(self.dest_path, f"{checksum}-tmp.html")
            if not _copy_regular(Path(html_file), Path(tmp)):
                self.log.warning(f"Not released: {_shown(html_file)} is not a regular file")
                continue
            stamp = _read_small(Path(html_file).parent / "timestamp.txt") or "?"
            self.log.info(
                f"Releasing feedback for student '{student}' on assignment "
                f"'{course}/{assignment}/{notebook_id}' ({stamp.strip()})"
            )
            final = os.path.join(self.dest_path, f"{checksum}.html")
            os.replace(tmp, final)
            released += 1
            self.log.info(f"Feedback released to: {final}")
        if skipped:
            self.log.warning(
                f"Feedback released for {released} notebook(s); {skipped} skipped "
                f"(see the warnings above and {Path(self.coursedir.root) / REFUSALS})"
            )

    def _notebooks(self) -> set[str] | None:
        try:
            with Gradebook(self.coursedir.db_url, self.coursedir.course_id) as gb:
                return {
                    nb.name for nb in gb.find_assignment(self.coursedir.assignment_id).notebooks
                }
        except MissingEntry:
            return None

    def _secret(self, student: str, feedback_dir: Path) -> str | None:
        """The submission's secret: nbgrader's own copy in the feedback folder, else the
        autograded or collected submission's (regular files only)."""
        assignment = self.coursedir.assignment_id
        places = [feedback_dir] + [
            Path(self.coursedir.format_path(directory, student, assignment))
            for directory in (
                self.coursedir.autograded_directory,
                self.coursedir.submitted_directory,
            )
        ]
        for place in places:
            text = _read_small(place / "submission_secret.txt")
            if text:
                return text
        return None


def _copy_regular(src: Path, dst: Path) -> bool:
    """Copy ``src`` to ``dst`` (mode 0644) if it is a regular file, never through a link."""
    flags = os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC
    try:
        fd = os.open(src, flags)
    except OSError:
        return False
    with os.fdopen(fd, "rb") as source:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            return False
        with open(dst, "wb") as target:
            shutil.copyfileobj(source, target)
    os.chmod(dst, 0o644)
    return True
