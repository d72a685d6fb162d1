"""What decides a grade, as hashes: a submission is graded again when one of them changed.

A stamp (``autograded/<student>/<assignment>/.course-grading.json``) keeps three hashes of the
last grading: ``submission`` (the staged files, :func:`digest_files`), ``grading``
(:func:`grading_version`: the code of both packages as installed, nbgrader's configuration,
the sandbox's limits, the installed distributions, the release notebooks and their judges)
and ``late`` (:func:`late_version`: the due date and the late policy, which are applied again
to recorded scores without executing anything). Nothing here is a hand-bumped constant.
"""

from __future__ import annotations

import functools
import hashlib
import json
import sys
from pathlib import Path
from typing import Any

from traitlets.config import Config
from traitlets.utils.importstring import import_item

from . import judging, sandbox

STAMP = ".course-grading.json"


def digest_files(folder: Path, files: list[str]) -> str:
    """A hash of the staged files (names relative to ``folder``), read in chunks."""
    digest = hashlib.sha256()
    for rel in sorted(files):
        digest.update(rel.encode() + b"\0")
        one = hashlib.sha256()
        with open(folder / rel, "rb") as handle:
            for chunk in iter(lambda: handle.read(1024**2), b""):
                one.update(chunk)
        digest.update(one.digest())
    return digest.hexdigest()


def read_stamp(folder: Path) -> dict[str, str]:
    """The stamp in an autograded folder ({} when there is none or it is unreadable)."""
    try:
        stamp = json.loads((folder / STAMP).read_text())
    except (OSError, ValueError):
        return {}
    return stamp if isinstance(stamp, dict) else {}


def write_stamp(folder: Path, stamp: dict[str, str]) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / STAMP).write_text(json.dumps(stamp))


GRADING_PACKAGES = ("attention_course", "attention_grader")
NOT_GRADING = (
    "catalogs/*",  # typical mistakes: read by the tests and `make demo`, never when grading
    "judges/nb*.py",  # each notebook's judges: part of its own assignment's version only
)
UNRELATED_SETTINGS = ("CourseDirectory.root",)  # where the course is decides no grade
# (sections whose name holds "Exchange" move files between people and decide no grade either;
#  HTMLExporter renders pages for people; the late policy has a version of its own)


def package_folders() -> dict[str, Path]:
    """``{package: folder}`` of :data:`GRADING_PACKAGES` as imported (installed) here."""
    import importlib

    return {name: Path(importlib.import_module(name).__file__).parent for name in GRADING_PACKAGES}


def code_files(folders: dict[str, Path]) -> list[tuple[str, Path]]:
    """``(package/relative path, path)`` of every ``.py`` file of the packages in ``folders``
    whose code may decide any grade: all of them but :data:`NOT_GRADING`."""
    out = []
    for package, folder in sorted(folders.items()):
        for path in sorted(folder.rglob("*.py")):
            rel = path.relative_to(folder)
            if "__pycache__" in rel.parts or any(rel.match(p) for p in NOT_GRADING):
                continue
            out.append((f"{package}/{rel.as_posix()}", path))
    return out


def judges_file(folders: dict[str, Path], notebook: str) -> Path | None:
    """The judges module of ``notebook`` in ``folders`` (None when it has none)."""
    package, *parts = judging.judges_module(notebook).split(".")
    path = folders[package].joinpath(*parts[:-1], parts[-1] + ".py")
    return path if path.is_file() else None


def _canonical(value: Any) -> Any:
    """A configuration value as stable text (classes by their import name, never an id)."""
    if isinstance(value, type):
        return f"{value.__module__}.{value.__qualname__}"
    if isinstance(value, dict):
        return {str(k): _canonical(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_canonical(v) for v in value]
    if isinstance(value, str | int | float | bool) or value is None:
        return value
    return repr(value)


def _late_plugin(config: Config) -> Any:
    from nbgrader.preprocessors import AssignLatePenalties

    name = AssignLatePenalties(config=config).plugin_class
    cls = import_item(name) if isinstance(name, str) else name
    return cls(config=config)


def settings_version(root: Path, config: Config) -> str:
    """nbgrader_config.py as written and every setting it resolved (the environment's
    included), but for those that decide no grade and the late policy (:func:`late_version`)."""
    late_sections = {"AssignLatePenalties"} | {
        cls.__name__ for cls in type(_late_plugin(config)).mro()
    }
    settings = {}
    for section, values in config.items():
        if "exchange" in section.lower() or section in late_sections | {"HTMLExporter"}:
            continue
        for key, value in values.items():
            if f"{section}.{key}" not in UNRELATED_SETTINGS:
                settings[f"{section}.{key}"] = _canonical(value)
    digest = hashlib.sha256((root / "nbgrader_config.py").read_bytes())
    digest.update(json.dumps(settings, sort_keys=True).encode())
    return digest.hexdigest()


@functools.cache
def distributions_version() -> str:
    """The Python version and every installed distribution (name and version: the first
    found of each name, as imports find it; a folder on ``sys.path`` twice changes nothing)."""
    import importlib.metadata

    versions: dict[str, str] = {}
    for dist in importlib.metadata.distributions():
        versions.setdefault(dist.metadata["Name"].lower().replace("_", "-"), dist.version)
    return hashlib.sha256(json.dumps([sys.version, sorted(versions.items())]).encode()).hexdigest()


def common_version(root: Path, config: Config, folders: dict[str, Path]) -> str:
    """What decides every grade of the course: the packages' code (:func:`code_files`), the
    configuration (:func:`settings_version`), the sandbox's limits, the installed
    distributions."""
    digest = hashlib.sha256()
    for name, path in code_files(folders):
        digest.update(name.encode() + b"\0" + hashlib.sha256(path.read_bytes()).digest())
    digest.update(settings_version(root, config).encode())
    limits = dict(sandbox.Limits.from_env().__dict__)
    limits.pop("uid_base")  # which uids the sandboxes get changes no grade
    digest.update(json.dumps(limits, sort_keys=True).encode())
    digest.update(distributions_version().encode())
    return digest.hexdigest()


def grading_version(
    root: Path, config: Config, assignment: str, folders: dict[str, Path] | None = None
) -> str:
    """What decides a grade of ``assignment`` besides the submission (its due date and the
    late policy aside): :func:`common_version`, and each release notebook with its judges."""
    folders = folders or package_folders()
    from nbgrader.coursedir import CourseDirectory  # (not in a grading worker)

    coursedir = CourseDirectory(config=config)
    digest = hashlib.sha256(common_version(root, config, folders).encode())
    release = Path(coursedir.format_path(coursedir.release_directory, ".", assignment))
    for path in sorted(release.glob("*.ipynb")):
        digest.update(path.name.encode() + b"\0" + hashlib.sha256(path.read_bytes()).digest())
        judges = judges_file(folders, path.stem)
        if judges is not None:
            digest.update(hashlib.sha256(judges.read_bytes()).digest())
    return digest.hexdigest()


def late_version(config: Config, due: str | None) -> str:
    """What decides a submission's late penalty besides its score and timestamp: its due date
    (the gradebook's, extension included) and the late plugin with its settings."""
    plugin = _late_plugin(config)
    settings = {name: _canonical(getattr(plugin, name)) for name in plugin.trait_names(config=True)}
    cls = type(plugin)
    text = json.dumps([f"{cls.__module__}.{cls.__qualname__}", settings, due], sort_keys=True)
    return hashlib.sha256(text.encode()).hexdigest()
