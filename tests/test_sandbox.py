"""attention_grader.sandbox and .executor: what a submission's kernel can see and do."""

from __future__ import annotations

import json
import os

import nbformat
import pytest

from attention_grader import engine, executor, sandbox


def _job(*sources: str, limits: sandbox.Limits | None = None, **files: bytes) -> executor.Job:
    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {
        "name": "python3",
        "display_name": "Python 3",
        "language": "python",
    }
    nb.cells = [nbformat.v4.new_code_cell(s) for s in sources]
    return executor.Job(
        key="s/a/n",
        notebook=nb,
        files=files,
        cases={},
        limits=limits or sandbox.Limits(cell_seconds=20, notebook_seconds=120),
    )


def _printed(result: executor.Result) -> list[str]:
    return [
        "".join(o.get("text", ""))
        for c in result.notebook.cells
        for o in c.outputs
        if o.get("output_type") == "stream"
    ]


@pytest.mark.parametrize(
    ("text", "size"),
    [("4G", 4 * 1024**3), ("512MiB", 512 * 1024**2), ("1.5g", int(1.5 * 1024**3)), ("1000", 1000)],
)
def test_sizes_are_read_with_units(text, size):
    assert sandbox.parse_size(text) == size


def test_bad_settings_say_which_setting(monkeypatch):
    monkeypatch.setenv("COURSE_SANDBOX_MEMORY", "lots")
    with pytest.raises(ValueError, match="COURSE_SANDBOX_MEMORY"):
        sandbox.Limits.from_env()
    monkeypatch.delenv("COURSE_SANDBOX_MEMORY")
    monkeypatch.setenv("COURSE_SANDBOX_PROCESSES", "-3")
    with pytest.raises(ValueError, match="COURSE_SANDBOX_PROCESSES"):
        sandbox.Limits.from_env()


def test_a_sandbox_can_be_started_here():
    assert sandbox.problem() is None


def test_without_bubblewrap_the_error_says_what_to_install(monkeypatch):
    monkeypatch.setattr(sandbox.shutil, "which", lambda name: None)
    layout = sandbox.Layout.create(sandbox.Limits())
    try:
        with pytest.raises(sandbox.SandboxUnavailable, match="apt-get install bubblewrap"):
            sandbox.command(layout, sandbox.Limits(), {}, ["true"])
    finally:
        layout.remove()


def test_engine_refuses_without_a_sandbox_unless_told_otherwise(monkeypatch, tmp_path):
    from courses import make_course

    root = make_course(tmp_path, ["01_tokenization"])
    monkeypatch.setattr(sandbox, "problem", lambda: "bwrap: not found; install bubblewrap")
    with pytest.raises(engine.GradingError, match="install bubblewrap"):
        engine.Engine(root, progress=False).grade(["01_tokenization"])


@pytest.mark.slow
def test_the_kernel_sees_its_files_and_nothing_of_the_course():
    probe_code = (
        "import os, socket, json\n"
        "facts = {'uid': os.getuid(), 'cwd': os.getcwd(), 'home': sorted(os.listdir('.')),\n"
        "         'data': open('data/notes.txt').read(),\n"
        "         'pids': len([p for p in os.listdir('/proc') if p.isdigit()]),\n"
        "         'grader': sorted(os.listdir('/grader')),\n"
        f"         'repo': os.path.exists({str(sandbox.LAUNCHER.parents[2])!r} + '/source'),\n"
        "         'env': sorted(k for k in os.environ if 'COURSE_DB' in k or 'SECRET' in k)}\n"
        "try:\n"
        "    socket.create_connection(('1.1.1.1', 53), timeout=2); facts['net'] = True\n"
        "except OSError:\n"
        "    facts['net'] = False\n"
        "print(json.dumps(facts))\n"
    )
    os.environ["SECRET_TOKEN"] = "x"
    try:
        result = executor.execute(_job(probe_code, **{"data/notes.txt": b"mine"}))
    finally:
        del os.environ["SECRET_TOKEN"]
    assert result.status == "ok", result.reason
    facts = json.loads(_printed(result)[-1])
    assert facts["uid"] != 0 and facts["cwd"] == sandbox.HOME
    assert "data" in facts["home"] and facts["data"] == "mine"
    assert facts["grader"] == ["cases.json", "files"]
    assert facts["repo"] is False and facts["net"] is False and facts["env"] == []
    assert facts["pids"] < 10  # its own PID namespace: a handful of processes


@pytest.mark.slow
def test_timeouts_and_a_dying_kernel_are_results_not_crashes():
    limits = sandbox.Limits(cell_seconds=3, notebook_seconds=60)
    result = executor.execute(
        _job(
            "import time\ntime.sleep(30)",
            "print('after')",
            "import os\nos._exit(4)",
            "print('never')",
            limits=limits,
        )
    )
    assert result.events == ["cell 0 timed out after 3 s"]
    assert "after\n" in _printed(result)
    assert result.status == "kernel-died" and "exit status 4" in result.reason
    last = result.notebook.cells[3].outputs[-1]
    assert last.ename == "NotRun" and "kernel died in cell 2" in last.evalue
    short = sandbox.Limits(cell_seconds=30, notebook_seconds=8)
    result = executor.execute(_job("import time\ntime.sleep(25)", limits=short))
    assert result.status == "timed-out" and "longer than 8 s in all" in result.reason
