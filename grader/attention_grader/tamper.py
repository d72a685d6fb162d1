"""A screen for a human: code in a submission that tries to reach into grading.

Verdicts do not depend on it (they are given outside the student's kernel, see
:mod:`nbgrader_ext`); it points the instructor at submissions worth a look: rebinding
NumPy, builtins or the check helpers, writing into module namespaces, IPython hooks.
"""

from __future__ import annotations

import ast
import json
from pathlib import Path
from typing import Any

from . import cells


def _read(path: Path) -> Any:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as error:
        raise ValueError(f"not a notebook ({error})") from None
    except (RecursionError, MemoryError):
        raise ValueError("not a notebook (its JSON is nested too deeply to be read)") from None


_WATCHED_MODULES = {
    "np",
    "numpy",
    "tf",
    "tensorflow",
    "keras",
    "builtins",
    "sys",
    "attention_course",
    "checks",
    "unittest",
    "math",
    "sklearn",
    "metrics",
}
_WATCHED_CALLS = {
    "setattr",
    "delattr",
    "exec",
    "eval",
    "globals",
    "__import__",
    "compile",
    "get_ipython",
}


def _root_name(node: ast.AST) -> str | None:
    while isinstance(node, (ast.Attribute, ast.Subscript, ast.Call)):
        node = node.func if isinstance(node, ast.Call) else node.value
    return node.id if isinstance(node, ast.Name) else None


def _aliases(nodes: list[ast.AST]) -> set[str]:
    """Names that refer to a watched module (or something inside one) in this cell (its
    ``nodes``): ``import numpy as xp``, ``from numpy import testing``, ``import builtins as
    b``."""
    names = set(_WATCHED_MODULES)
    for node in nodes:
        if isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name.split(".")[0] in _WATCHED_MODULES:
                    names.add(alias.asname or alias.name.split(".")[0])
        elif (
            isinstance(node, ast.ImportFrom)
            and node.module
            and node.module.split(".")[0] in _WATCHED_MODULES
        ):
            for alias in node.names:
                names.add(alias.asname or alias.name)
    return names


def _namespace_write(target: ast.AST, watched: set[str]) -> bool:
    """``x.__dict__[k] = v``, ``vars(x)[k] = v``, ``sys.modules[k]... = v``."""
    if not isinstance(target, ast.Subscript):
        return False
    for node in ast.walk(target.value):
        if isinstance(node, ast.Attribute) and node.attr in ("__dict__", "modules"):
            return True
        if (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Name)
            and node.func.id in ("vars", "globals", "locals")
        ):
            return True
    return _root_name(target) in watched


def _cells(nb: Any) -> list[dict]:
    if not isinstance(nb, dict) or not isinstance(nb.get("cells"), list):
        raise ValueError("the file is JSON but not a notebook (no list of cells)")
    return [cell for cell in nb["cells"] if isinstance(cell, dict)]


def scan(path: Path) -> list[str]:
    """Reasons to look at a submission by hand: code in student cells that rebinds
    test helpers, numpy/tensorflow/builtins attributes (also through an import alias
    or a namespace dict), or reaches into the grader.

    Only cells a student may edit are scanned (locked cells are restored anyway). A
    file that does not parse as a notebook is itself a reason. This is a screen for a
    human, not a verdict: verdicts are given outside the student's kernel either way.
    """
    try:
        notebook_cells = _cells(_read(path))
    except ValueError as error:
        return [f"{path.name}: {error}"]
    reasons: list[str] = []
    for cell in notebook_cells:
        meta = cells.nbgrader(cell)
        if cell.get("cell_type") != "code" or meta.get("locked"):
            continue
        where = meta.get("grade_id") or cell.get("id", "?")
        try:
            source = cells.source(cell)
            tree = ast.parse(
                "\n".join(
                    line for line in source.splitlines() if not line.lstrip().startswith(("%", "!"))
                )
            )
            reasons.extend(_screen(tree, where))
        except (SyntaxError, ValueError, TypeError, AttributeError):
            continue
        except (RecursionError, MemoryError):  # 1+1+...+1 a hundred thousand times
            reasons.append(f"cell {where}: code nested too deeply to be screened (look by hand)")
    return list(dict.fromkeys(reasons))


def _screen(tree: ast.AST, where: str) -> list[str]:
    """The reasons :func:`scan` gives for one cell's parsed code ``tree``."""
    reasons: list[str] = []
    nodes = list(ast.walk(tree))  # (walked once)
    watched = _aliases(nodes)
    for node in nodes:
        if isinstance(node, (ast.Assign, ast.AugAssign, ast.AnnAssign, ast.Delete)):
            targets = node.targets if isinstance(node, (ast.Assign, ast.Delete)) else [node.target]
            for target in targets:
                for leaf in ast.walk(target):  # tuple targets: a, np.x = ...
                    if (
                        isinstance(leaf, ast.Attribute)
                        and isinstance(leaf.ctx, (ast.Store, ast.Del))
                        and _root_name(leaf) in watched
                    ):
                        reasons.append(f"cell {where}: assigns {ast.unparse(leaf)}")
                    elif (
                        isinstance(leaf, ast.Subscript)
                        and isinstance(leaf.ctx, (ast.Store, ast.Del))
                        and _namespace_write(leaf, watched)
                    ):
                        reasons.append(
                            f"cell {where}: writes into a namespace: {ast.unparse(leaf)}"
                        )
                    elif (
                        isinstance(leaf, ast.Name)
                        and isinstance(leaf.ctx, (ast.Store, ast.Del))
                        and leaf.id.startswith("check_")
                    ):
                        reasons.append(f"cell {where}: rebinds the test helper {leaf.id}")
        elif (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Name)
            and node.func.id in _WATCHED_CALLS
        ):
            reasons.append(f"cell {where}: calls {node.func.id}()")
        elif (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Attribute)
            and node.func.attr == "update"
            and "__dict__" in ast.unparse(node.func.value)
        ):
            reasons.append(f"cell {where}: updates a namespace: {ast.unparse(node.func)}")
        elif isinstance(node, (ast.FunctionDef, ast.ClassDef)) and node.name.startswith("check_"):
            reasons.append(f"cell {where}: defines {node.name}")
    return reasons
