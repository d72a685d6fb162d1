"""Install the system tools grading needs, where this machine lets us; say what is missing.

- bubblewrap (``bwrap``): the sandbox every submission runs in (``course autograde`` refuses
  to grade without it, unless told ``--unsafe-no-sandbox``);
- PostgreSQL server binaries: only for the test that grades against a real PostgreSQL
  gradebook;
- Chromium (Debian's ``chromium``): only for the test that opens graded notebooks in
  formgrader and the feedback pages in a real headless browser (no student script may run).

As root with ``apt-get`` (Debian/Ubuntu, CI) they are installed; otherwise this prints what
to install and exits 0, so that students and self-study users can still set up. Standard
library only: it runs before the virtual environment exists.
"""

import glob
import os
import shutil
import subprocess
import sys

PACKAGES = {  # Debian package -> how to tell it is there
    "bubblewrap": lambda: shutil.which("bwrap") is not None,
    "postgresql": lambda: bool(glob.glob("/usr/lib/postgresql/*/bin/initdb")),
    "chromium": lambda: any(shutil.which(n) for n in ("chromium", "chromium-browser")),
}
HINT = {
    "bubblewrap": "the grading sandbox: sudo apt-get install bubblewrap (Debian/Ubuntu), "
    "sudo dnf install bubblewrap (Fedora), sudo pacman -S bubblewrap (Arch)",
    "postgresql": "only for the PostgreSQL gradebook test: sudo apt-get install postgresql",
    "chromium": "only for the browser test of formgrader and feedback: sudo apt-get install "
    "chromium (Debian), chromium-browser (Ubuntu)",
}


def apt_install(names: list[str]) -> bool:
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    command = ["apt-get", "install", "-y", "--no-install-recommends", *names]
    if subprocess.run(command, env=env, capture_output=True).returncode == 0:
        return True
    subprocess.run(["apt-get", "update"], env=env, capture_output=True)  # a fresh machine
    return subprocess.run(command, env=env).returncode == 0


def main() -> int:
    missing = [name for name, present in PACKAGES.items() if not present()]
    if not missing:
        return 0
    if os.geteuid() == 0 and shutil.which("apt-get"):
        print(f"installing {', '.join(missing)} with apt-get", file=sys.stderr)
        apt_install(missing)
        missing = [name for name in missing if not PACKAGES[name]()]
    for name in missing:
        print(f"note: {name} is not installed ({HINT[name]})", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
