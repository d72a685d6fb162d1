"""``course`` and ``python -m attention_grader``: the command line (:mod:`cli`), imported when
a command runs, not when this module is. The grading workers of a local cluster are started
with multiprocessing's spawn, which imports the script that started the coordinator again in
each worker (``course`` imports this module): there, the command line's imports (nbgrader,
nbconvert, SQLAlchemy: about 0.6 s of a core per worker) would be paid for nothing."""

import sys


def main() -> int:
    from .cli import main as command_line

    return command_line()


if __name__ == "__main__":
    sys.exit(main())
