"""The warm kernel template (attention_grader.zygote, _zygote): a kernel forked from it is in
the same sandbox as a fresh kernel, an honest notebook gives the same report, the template
survives and cannot be reached by what a student's kernel does, and grading falls back to a
fresh kernel when the template cannot be used.

The template imports TensorFlow once per process (10 s or more): the tests share it.
"""

from __future__ import annotations

import ast
import contextlib
import fcntl
import json
import os
import re
import signal
import subprocess
import sys
import tempfile
import time

import nbformat
import psutil
import pytest

from attention_grader import executor, sandbox, workers, zygote
from conftest import ROOT
from notebook_suite import Catalog, assert_fresh_kernels_agree, graded_catalog

LIMITS = sandbox.Limits(cell_seconds=60, notebook_seconds=240)


def _job(*sources: str, limits: sandbox.Limits = LIMITS, pays: bool = True) -> executor.Job:
    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {
        "name": "python3",
        "display_name": "Python 3",
        "language": "python",
    }
    nb.cells = [nbformat.v4.new_code_cell(s) for s in sources]
    return executor.Job(
        key="s/a/n", notebook=nb, files={"mine.txt": b"mine"}, limits=limits, template_pays=pays
    )


def _printed(result: executor.Result, name: str | None = None) -> list[str]:
    return [
        "".join(o.get("text", ""))
        for c in result.notebook.cells
        for o in c.outputs
        if o.get("output_type") == "stream" and name in (None, o.get("name"))
    ]


def _run(monkeypatch, setting: str, *sources: str, **kw) -> executor.Result:
    monkeypatch.setenv(zygote.SETTING, setting)
    result = executor.execute(_job(*sources, **kw))
    assert result.status == "ok", (result.reason, result.log[-2000:])
    return result


@pytest.fixture(scope="module", autouse=True)
def _root():
    """(The tests take this worker's template as they find it, as a grading run does: one
    that served earlier kernels is the one that must not differ; a test that needs a new
    one stops it first. The template they leave serves the next file.)"""
    if os.geteuid() != 0:
        pytest.fail("the kernel template needs the grader to run as root (CI runs as root)")


@pytest.fixture
def light_templates(monkeypatch):
    """Templates that import ``json`` alone, for the tests of when a template is started,
    restarted, shared or waited for, not of what it imports (a template's TensorFlow import
    costs 4-5 s of a core; these tests started seven). The process's template is stopped before
    and after, so the next test that needs the whole one starts it (one still being started
    in the background is waited for first: it would become this test's template)."""
    zygote.settle()
    zygote.stop()
    monkeypatch.setattr(zygote, "MODULES", ("json",))
    yield
    zygote.stop()


# What a kernel sees of its sandbox; every value must be the same for a fresh kernel and one
# forked from the template (sandbox-specific folder names are normalized below).
FACTS = r"""
import ctypes, json, os, platform, resource, socket, sys, time
time.sleep(1)  # the client's last channels may still be connecting when the first cell runs
sys.stderr.write("\n")  # (the main thread's event pipe to the IOPub thread: see below)
sys.stderr.flush()
status = dict(l.split(':', 1) for l in open('/proc/self/status').read().splitlines() if ':' in l)
fds = {}
for fd in os.listdir('/proc/self/fd'):
    try:
        fds[int(fd)] = os.readlink(f'/proc/self/fd/{fd}')
    except OSError:
        pass
libc = ctypes.CDLL(None)
facts = {
    'ids': [os.getresuid(), os.getresgid(), os.getgroups()],
    'status': {k: status[k].strip() for k in ('CapInh', 'CapPrm', 'CapEff', 'CapBnd', 'CapAmb',
                                              'NoNewPrivs', 'Seccomp', 'Umask')},
    'dumpable': libc.prctl(3, 0, 0, 0, 0),
    'pid': os.getpid(), 'ppid': os.getppid(), 'session_leader': os.getsid(0) == os.getpid(),
    'host': socket.gethostname(), 'uname': list(platform.uname()),
    'interfaces': [l.split(':')[0].strip() for l in open('/proc/net/dev').readlines()[2:]],
    'cwd': os.getcwd(),
    'env': dict(os.environ), 'argv': sys.argv, 'orig_argv': sys.orig_argv, 'path': sys.path,
    'flags': list(sys.flags), 'executable': sys.executable,
    'limits': {n: resource.getrlimit(getattr(resource, n)) for n in
               ('RLIMIT_AS', 'RLIMIT_NPROC', 'RLIMIT_FSIZE', 'RLIMIT_CORE', 'RLIMIT_NOFILE',
                'RLIMIT_MEMLOCK')},
    # (a bound file replaced on the host meanwhile, /etc/passwd by the exchange test's
    # useradd, shows as '<path>//deleted': the same mount)
    'mounts': sorted(' '.join(l.split()[3:6]).replace('//deleted ', ' ') + ' '
                     + l.split(' - ')[1] for l in open('/proc/self/mountinfo')),
    'cgroup': open('/proc/self/cgroup').read(),
    'home': sorted(os.listdir('.')), 'tmp': sorted(os.listdir('/tmp')),
    'shm': sorted(os.listdir('/dev/shm')),
    'threads': len(os.listdir('/proc/self/task')),
    'fds': sorted(fds.values()),
    'processes': sorted(open(f'/proc/{p}/comm').read().strip() for p in os.listdir('/proc')
                        if p.isdigit() and int(p) != os.getpid()),
}
print(json.dumps(facts, sort_keys=True))
"""


def _facts(result: executor.Result) -> dict:
    text = _printed(result)[-1]
    text = re.sub(r"course-sandbox-\w+", "course-sandbox-X", text)
    text = re.sub(r"(pipe|socket|anon_inode):\[\d+\]", r"\1:[N]", text)
    return json.loads(text)


def _differences(a: dict, b: dict) -> dict:
    found = {}
    for key in sorted(set(a) | set(b)):
        x, y = a.get(key), b.get(key)
        if x != y and isinstance(x, dict) and isinstance(y, dict):
            found[key] = {k: (x.get(k), y.get(k)) for k in set(x) | set(y) if x.get(k) != y.get(k)}
        elif x != y and isinstance(x, list) and isinstance(y, list):  # (what only one has)
            only_x, only_y = [v for v in x if v not in y], [v for v in y if v not in x]
            found[key] = {"fresh only": only_x, "template only": only_y}
        elif x != y:
            found[key] = (x, y)
    return found


def test_a_template_kernel_is_in_the_same_sandbox_as_a_fresh_one(monkeypatch):
    fresh = _run(monkeypatch, "off", FACTS)
    forked = _run(monkeypatch, "on", FACTS)
    assert (fresh.kernel_from, forked.kernel_from) == ("fresh", "template")
    a, b = _facts(fresh), _facts(forked)
    # What differs, by design: the kernel keeps the holder's FIFO open (so that the sandbox
    # lives as long as it does), its standard input is /dev/null (a fresh kernel's is a pipe
    # nobody writes to), the sandbox's init is the holder (a Python launcher) rather than
    # bubblewrap's own, it has no capability in any set (a fresh one keeps inheritable and
    # bounding sets, which no_new_privs makes useless), and each sandbox has its own uid.
    # (A fresh kernel imports debugpy as it starts, which warns on stderr about frozen modules,
    # published to no request: that write opened the main thread's event pipe to the IOPub
    # thread, one more eventfd. The template's import warned in its own log, so a forked kernel
    # opens that pipe at its first output: FACTS writes to stderr first.)
    fifo = [fd for fd in b["fds"] if fd.endswith("/ipc/hold")]
    assert len(fifo) == 1 and "/dev/null" in b["fds"], b["fds"]
    b["fds"].remove(fifo[0]), b["fds"].remove("/dev/null")
    a["fds"].remove(next(fd for fd in a["fds"] if fd.startswith("pipe:")))
    assert a["processes"] == ["bwrap"] and b["processes"] == ["python"]
    assert set(b["status"][k] for k in ("CapInh", "CapBnd", "CapPrm", "CapEff", "CapAmb")) == {
        "0000000000000000"
    }
    for facts in (a, b):
        (uid, *uids), (gid, *gids), groups = facts.pop("ids")
        assert uid != 0 and uids == [uid, uid] and gid == uid and gids == [gid, gid]
        assert groups == []
        del facts["processes"], facts["status"]["CapInh"], facts["status"]["CapBnd"]
    assert a == b, _differences(a, b)
    assert a["status"]["CapEff"] == "0000000000000000" and a["status"]["NoNewPrivs"] == "1"
    assert a["pid"] == 2 and a["ppid"] == 1 and a["dumpable"] == 1 and not a["session_leader"]


HONEST = r"""
from attention_course.notebook import setup
SETTINGS = setup(seed=0, notebook="03_reweighing")
import keras, numpy as np, random
layer = keras.layers.Dense(3)
out = layer(np.arange(8, dtype='float32').reshape(2, 4))
print(layer.name, out.numpy().round(6).tolist(), np.random.rand(2).tolist(), random.random())
import tensorflow as tf
print(keras.random.uniform((2,)).numpy().tolist(), keras.backend.floatx(), tf.__version__)
import os, sklearn.linear_model
print(sorted(os.environ.items()))  # what the imports set (TF2_BEHAVIOR, KMP_DUPLICATE_LIB_OK...)
"""


def test_an_honest_keras_cell_prints_the_same_with_the_template(monkeypatch):
    fresh = _run(monkeypatch, "off", HONEST)
    forked = _run(monkeypatch, "on", HONEST)
    again = _run(monkeypatch, "on", HONEST)  # no state from the earlier kernel
    assert forked.kernel_from == again.kernel_from == "template"
    # (Joined: TensorFlow's notice on stderr can land between two stdout chunks of the fresh
    # kernel and split them into two outputs, depending on when it was flushed.)
    printed = "".join(_printed(fresh, "stdout"))
    assert printed == "".join(_printed(forked, "stdout")) == "".join(_printed(again, "stdout"))
    assert printed.startswith("dense [[")
    assert "('TF2_BEHAVIOR', '1')" in printed
    # The one difference: TensorFlow's notice when it is first imported (on stderr, before
    # absl's logging starts, whatever TF_CPP_MIN_LOG_LEVEL says) came from the template.
    assert _printed(forked, "stderr") == _printed(again, "stderr") == []
    for text in _printed(fresh, "stderr"):
        assert "absl::InitializeLog" in text or "oneDNN" in text, text


MODULES_NOW = "import sys\nprint(sorted(sys.modules))"  # (imports nothing)
IMPORT_BASE = "import importlib, sys\nfor n in sys.argv[1:]: importlib.import_module(n)\n" + (
    "print(sorted(sys.modules))"
)


def test_the_template_imports_what_a_fresh_kernel_has_imported_at_its_first_cell(monkeypatch):
    """The template's base imports are exactly a fresh kernel's modules at its first cell: a
    forked kernel does not import any of them again (debugpy alone is about 40 ms of CPU per
    kernel), and finds none that a fresh kernel lacks (the base is not hidden)."""
    fresh = set(ast.literal_eval(_printed(_run(monkeypatch, "off", MODULES_NOW))[-1]))
    forked = set(ast.literal_eval(_printed(_run(monkeypatch, "on", MODULES_NOW))[-1]))
    base = subprocess.run(
        [sys.executable, "-I", "-c", IMPORT_BASE, *zygote.BASE],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    base = set(ast.literal_eval(base))
    assert {"debugpy", "pdb", "sqlite3", "runpy"} <= fresh
    assert fresh - base == set(), "a fresh kernel's start imports these: add them to BASE"
    assert base - fresh == set(), "BASE imports these, which a fresh kernel has not imported"
    assert fresh - forked == set()


# What the template's imports set up from the process they ran in, which was not a kernel: a
# kernel sets it up as a fresh one would (TensorFlow's logger at INFO on the notebook's stdout,
# as in any interactive Python; multiprocessing's __mp_main__ is the kernel's __main__, not the
# template's script), and nothing names the template's pid or holds its request.
LEFTOVERS = r"""
import logging, os, sys, threading
import tensorflow as tf
from tensorflow.python.autograph.utils import ag_logging
from _pydevd_bundle._debug_adapter import pydevd_schema_log
logger = tf.get_logger()
logger.info("tensorflow says hello")
print(logging.getLevelName(logger.level), [h.stream is sys.stdout for h in logger.handlers],
      ag_logging.echo_log_to_stdout)
print(sys.modules.get("__mp_main__") is sys.modules["__main__"])
print(threading.main_thread().native_id, threading.get_native_id(), pydevd_schema_log._pid)
import gc  # the template's request to fork this kernel (host pids, cgroup paths) is not left
print(any(isinstance(o, dict) and "cgroup_procs" in o for o in gc.get_objects()))
"""


def test_what_the_imports_set_up_is_set_up_for_the_kernel(monkeypatch):
    shown = {}
    for setting in ("off", "on"):
        result = _run(monkeypatch, setting, LEFTOVERS)
        shown[setting] = "".join(_printed(result, "stdout"))
    expected = "INFO:tensorflow:tensorflow says hello\nINFO [True] True\nTrue\n2 2 2\nFalse\n"
    assert shown["off"] == expected
    assert shown["on"] == expected


# A kernel's first traceback maps the file of every module it has imported (inspect.getmodule,
# 0.15-0.3 s with TensorFlow): the template mapped them once (_zygote._map_module_files), and
# the traceback a student is shown is the same.
TRACEBACK = r"""
import inspect
print("mapped before:", "tensorflow" in inspect._filesbymodname)
import keras, numpy as np
keras.layers.Dense(2)(np.zeros((2,), "float32"))  # rank 1: Keras raises deep in its own code
"""
ANSI = re.compile(r"\x1b\[[0-9;]*m")


def test_a_traceback_is_the_same_with_the_template(monkeypatch):
    shown = {}
    for setting in ("off", "on"):
        result = _run(monkeypatch, setting, TRACEBACK)
        errors = [o for c in result.notebook.cells for o in c.outputs if o.output_type == "error"]
        assert len(errors) == 1, result.notebook.cells
        shown[setting] = (
            _printed(result, "stdout"),
            errors[0].ename,
            errors[0].evalue,
            [ANSI.sub("", line) for line in errors[0].traceback],
        )
    assert shown["off"][0] == ["mapped before: False\n"]
    assert shown["on"][0] == ["mapped before: True\n"]  # (the template's map)
    assert shown["off"][1:] == shown["on"][1:]
    trace = "\n".join(shown["on"][3])
    assert "Cell In[1], line 4" in trace and "keras/src/layers/input_spec.py" in trace, trace


# Packages that only came with the warm-up (scipy with scikit-learn, absl with TensorFlow) are
# hidden like the warm families: a submission's own file of that name wins, as in a fresh kernel.
SHADOWS = r"""
import sys
print(sorted(n for n in ("scipy", "pandas", "absl", "tensorflow", "keras") if n in sys.modules))
import scipy
print("scipy is the submission's:", getattr(scipy, "MINE", False))
try:
    import tensorflow
    print("tensorflow imported")
except ImportError as error:
    print("tensorflow failed:", error)
"""


def test_a_submissions_own_file_wins_over_every_preloaded_package(monkeypatch):
    files = {"scipy.py": b"MINE = True\n", "absl.py": b"raise ImportError('my absl.py')\n"}
    printed = {}
    for setting in ("off", "on"):
        monkeypatch.setenv(zygote.SETTING, setting)
        job = _job(SHADOWS)
        job.files = files
        result = executor.execute(job)
        assert result.status == "ok", result.reason
        assert result.kernel_from == "fresh"  # (the submission's files shadow preloaded ones)
        printed[setting] = "".join(_printed(result, "stdout"))
    assert printed["on"] == printed["off"], printed
    assert printed["off"].startswith("[]\nscipy is the submission's: True\n"), printed
    assert "tensorflow failed: my absl.py" in printed["off"], printed


# A key added to the uid's keyring outlives the sandbox: the next kernel with that uid (uids
# are reused) could read it. Kernels get no keyrings at all (_seccomp.py).
KEYRING = r"""
import ctypes, platform
numbers = {"x86_64": (248, 249, 250), "aarch64": (217, 218, 219)}[platform.machine()]
libc = ctypes.CDLL(None, use_errno=True)
add_key = libc.syscall(numbers[0], b"user", b"note", b"answers=42", 10, -4)  # @u
print("add_key", add_key, ctypes.get_errno())
print("keyctl", libc.syscall(numbers[2], 0, -4, 0), ctypes.get_errno())  # get @u's id
print("x32", libc.syscall(0x40000000 | 39), ctypes.get_errno())  # getpid through x32
if platform.machine() == "x86_64":  # keyctl(GET_KEYRING_ID, @u) through int 0x80 (i386 ABI)
    import mmap
    code = bytes([0x53, 0xB8, 0x20, 0x01, 0, 0, 0xBB, 0, 0, 0, 0, 0xB9, 0xFC, 0xFF, 0xFF, 0xFF,
                  0xBA, 0, 0, 0, 0, 0xCD, 0x80, 0x5B, 0xC3])  # push rbx ... int 0x80, pop rbx
    page = mmap.mmap(-1, 4096, prot=mmap.PROT_READ | mmap.PROT_WRITE | mmap.PROT_EXEC)
    page.write(code)
    call = ctypes.CFUNCTYPE(ctypes.c_int)(ctypes.addressof(ctypes.c_char.from_buffer(page)))
    print("i386", call())
else:
    print("i386", -1)
"""


def test_no_kernel_can_use_a_keyring(monkeypatch):
    for setting in ("off", "on"):
        result = _run(monkeypatch, setting, KEYRING)
        assert result.kernel_from == ("template" if setting == "on" else "fresh")
        printed = "".join(_printed(result, "stdout"))
        assert printed == "add_key -1 1\nkeyctl -1 1\nx32 -1 1\ni386 -1\n", printed


# Code a submission's files could run as the kernel starts, before the sandbox is sealed (an
# fd opened then on the host's ipc folder stays writable after): IPython's startup folder in
# the home folder, where the files land. (python -m puts the working folder first on sys.path:
# intake refuses an ipykernel_launcher.py, as any file named like an installed module.)
BEFORE_SEAL = b"open('/tmp/ran', 'a').write(__file__ + ' ')\n"
STARTUP_FILES = {
    ".ipython/profile_default/startup/00-mine.py": BEFORE_SEAL,
    ".ipython/profile_default/ipython_kernel_config.py": BEFORE_SEAL,
    "sitecustomize.py": BEFORE_SEAL,
    ".local/lib/python3.11/site-packages/usercustomize.py": BEFORE_SEAL,
}


def test_no_file_of_a_submission_runs_before_the_sandbox_is_sealed(monkeypatch):
    for setting in ("off", "on"):
        monkeypatch.setenv(zygote.SETTING, setting)
        job = _job("import os\nprint(os.path.exists('/tmp/ran') and open('/tmp/ran').read())")
        job.files = STARTUP_FILES
        result = executor.execute(job)
        assert result.status == "ok", (setting, result.reason, result.log[-2000:])
        assert result.kernel_from == ("template" if setting == "on" else "fresh")
        assert _printed(result) == ["False\n"], (setting, _printed(result))


# Root's sandboxes have no user namespace of their own: a kernel that could make one would hold
# every capability in it and could build mount namespaces without end (millions of mounts: a
# teardown of many seconds, outlasting the grader's kill, and the host's mount table stalled).
# Making one fails in any way a kernel can ask; threads, fork and subprocesses still work.
USERNS = r"""
import ctypes, os, platform, struct, subprocess, threading
CLONE_NEWUSER, CLONE_NEWNS, SIGCHLD = 0x10000000, 0x00020000, 17
clone, unshare = {"x86_64": (56, 272), "aarch64": (220, 97)}[platform.machine()]
libc = ctypes.CDLL(None, use_errno=True)
def report(name, result):
    if result == 0:  # a child of clone: it must not go on as a second kernel
        os._exit(0)
    print(name, result, ctypes.get_errno() if result == -1 else "")
def alone(call):  # unshare(CLONE_NEWUSER) asks for a process of one thread: a forked child
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:
        result = call()
        os.write(write, f"{result} {ctypes.get_errno() if result == -1 else ''}".encode())
        os._exit(0)
    os.close(write)
    os.waitpid(pid, 0)
    return os.read(read, 100).decode()
print("unshare", alone(lambda: libc.unshare(CLONE_NEWUSER | CLONE_NEWNS)))
print("unshare_user", alone(lambda: libc.syscall(unshare, CLONE_NEWUSER)))
report("clone", libc.syscall(clone, CLONE_NEWUSER | SIGCHLD, 0, 0, 0, 0))
args = ctypes.create_string_buffer(struct.pack("=8Q", CLONE_NEWUSER, 0, 0, 0, SIGCHLD, 0, 0, 0))
report("clone3", libc.syscall(435, args, 64))
found = []
thread = threading.Thread(target=lambda: found.append(sum(range(10))))
thread.start(); thread.join()
pid = os.fork()
if pid == 0:
    os._exit(7)
print("thread", found, "fork", os.waitpid(pid, 0)[1] >> 8,
      "subprocess", subprocess.run(["true"]).returncode)
"""


def test_no_kernel_can_make_a_user_namespace(monkeypatch):
    expected = (
        "unshare -1 1\nunshare_user -1 1\nclone -1 1\nclone3 -1 38\n"
        "thread [45] fork 7 subprocess 0\n"
    )
    for setting in ("off", "on"):
        result = _run(monkeypatch, setting, USERNS)
        assert result.kernel_from == ("template" if setting == "on" else "fresh")
        assert "".join(_printed(result, "stdout")) == expected, _printed(result)


# Unix and TCP sockets only (the kernel's own channels): a network namespace isolates neither
# AF_VSOCK (the hypervisor's and the machine's ports) nor netlink's device events, and no memory
# limit counts UDP buffers nor the replies netlink queues; TCP's count in a limit of their own
# (cgroup v1: sandbox.TCP_BUFFER_BYTES). No io_uring (it makes sockets without the calls the
# filter sees), no io_setup (a machine-wide pool), no perf_event_open and no locked memory
# (perf's ring buffers are pinned outside the memory limit).
SOCKETS = r"""
import ctypes, platform, resource, socket, struct
libc = ctypes.CDLL(None, use_errno=True)
for name, family, kind, protocol in (
    ("udp", socket.AF_INET, socket.SOCK_DGRAM, 0),
    ("udp6", socket.AF_INET6, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC, 0),
    ("sctp", socket.AF_INET, socket.SOCK_STREAM, 132),
    ("tcp6", socket.AF_INET6, socket.SOCK_STREAM | socket.SOCK_NONBLOCK, 0),
    ("vsock", 40, socket.SOCK_STREAM, 0),
    ("netlink", socket.AF_NETLINK, socket.SOCK_RAW, 0),
    ("uevent", socket.AF_NETLINK, socket.SOCK_DGRAM, 15),
):
    try:
        socket.socket(family, kind, protocol).close()
        print(name, "made")
    except OSError as error:
        print(name, error.errno)
a, b = socket.socketpair()
a.send(b"x")
listener = socket.socket(socket.AF_UNIX)
listener.bind("/tmp/mine.sock")
print("unix", b.recv(1))
io_setup = {"x86_64": 206, "aarch64": 0}[platform.machine()]
context = ctypes.c_ulong(0)
print("io_setup", libc.syscall(io_setup, 8, ctypes.byref(context)), ctypes.get_errno())
params = ctypes.create_string_buffer(120)
print("io_uring", libc.syscall(425, 8, params), ctypes.get_errno())
perf = {"x86_64": 298, "aarch64": 241}[platform.machine()]
attr = ctypes.create_string_buffer(struct.pack("=IIQ", 1, 128, 0), 128)  # task clock
print("perf", libc.syscall(perf, attr, 0, -1, -1, 0), ctypes.get_errno())
print("memlock", resource.getrlimit(resource.RLIMIT_MEMLOCK))
server = socket.create_server(("127.0.0.1", 0), backlog=64)
queued, connections = 0, []
while queued < 200 << 20 and len(connections) < 300:  # data no one reads, on loopback
    client = socket.create_connection(server.getsockname())
    connections += [client, server.accept()[0]]
    client.setblocking(False)
    try:
        while True:
            queued += client.send(b"x" * 65536)
    except BlockingIOError:
        pass
print("tcp", queued >> 20)
"""


def test_a_kernel_has_unix_and_tcp_sockets_only_no_asynchronous_io_nor_perf(monkeypatch):
    expected = [
        "udp 93", "udp6 93", "sctp 93", "tcp6 made", "vsock 97", "netlink 95", "uevent 95",
        "unix b'x'", "io_setup -1 38", "io_uring -1 38", "perf -1 38", "memlock (0, 0)",
    ]  # fmt: skip
    for setting in ("off", "on"):
        result = _run(monkeypatch, setting, SOCKETS)
        assert result.kernel_from == ("template" if setting == "on" else "fresh")
        printed = "".join(_printed(result, "stdout")).splitlines()
        assert printed[:-1] == expected, (setting, printed)
        queued_mb = int(printed[-1].removeprefix("tcp "))
        # in TCP's own limit (cgroup v1; cgroup v2 charges them to the notebook's memory)
        v1 = result.memory_guard.startswith("cgroup v1")
        bound = sandbox.TCP_BUFFER_BYTES * 3 // 2 if v1 else LIMITS.memory_bytes
        assert queued_mb << 20 <= bound, (setting, printed[-1], result.memory_guard)


def test_which_files_shadow_a_preloaded_package(monkeypatch):
    _run(monkeypatch, "on", "pass")
    template = zygote.current()
    assert {"numpy", "scipy", "absl", "tensorflow", "keras"} <= template.preloaded
    assert not {"json", "os", "IPython"} & template.preloaded  # a fresh kernel has them too
    files = {
        "absl.py": b"",
        "scipy/__init__.py": b"",
        "numpy.cpython-311-x86_64-linux-gnu.so": b"",
        "data/reviews.csv": b"",
        "notes.txt": b"",
        "json.py": b"",
    }
    assert zygote.shadows(template, files) == {"absl", "scipy", "numpy"}
    assert zygote.shadows(template, {"data/absl.py": b"", "mine.txt": b""}) == set()


def _template_pid(monkeypatch) -> int:
    _run(monkeypatch, "on", "pass")
    template = zygote.current()
    assert template is not None and template.alive()
    return template.process.pid


def test_a_kernel_cannot_reach_its_template(monkeypatch):
    pid = _template_pid(monkeypatch)
    folder = str(zygote.current().folder)
    rss_before = zygote.current().rss()
    attack = f"""
import ctypes, gc, os, signal
found = {{}}
try:
    os.kill({pid}, signal.SIGKILL); found['signal'] = 'sent'
except OSError as e:
    found['signal'] = type(e).__name__
for what in ('mem', 'maps', 'environ', 'status'):
    try:
        open('/proc/{pid}/' + what, 'rb').read(1); found[what] = 'read'
    except OSError as e:
        found[what] = type(e).__name__
libc = ctypes.CDLL(None, use_errno=True)
found['ptrace'] = libc.ptrace(16, {pid}, 0, 0)  # PTRACE_ATTACH
found['socket_folder'] = os.path.exists({folder!r})
found['ptrace_init'] = libc.ptrace(16, 1, 0, 0)  # the holder: the same user, yet not traceable
for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP, signal.SIGUSR1):
    os.kill(1, sig)  # ignored: the holder handles none
for p in os.listdir('/proc'):
    if p.isdigit() and int(p) != os.getpid():
        try:
            os.kill(int(p), signal.SIGKILL)  # everything it can see (the holder is init)
        except OSError:
            pass
gc.unfreeze(); gc.collect()  # writes to every page shared with the template
junk = [bytearray(1 << 20) for _ in range(200)]
print(found)
"""
    result = _run(monkeypatch, "on", attack, "print('still here')")
    found = eval(_printed(result)[0])  # noqa: S307 - the test's own output
    assert found == {
        "signal": "ProcessLookupError",
        "mem": "FileNotFoundError",
        "maps": "FileNotFoundError",
        "environ": "FileNotFoundError",
        "status": "FileNotFoundError",
        "ptrace": -1,
        "socket_folder": False,
        "ptrace_init": -1,
    }
    assert _printed(result)[-1] == "still here\n"
    template = zygote.current()
    assert template is not None and template.process.pid == pid and template.alive()
    assert template.rss() < rss_before * 1.1  # the child's writes were its own pages
    assert result.memory_peak > 150 * 1024**2  # and were charged to the sandbox's cgroup


LEAVE = r"""
import os, threading, time, random, subprocess, sys
import numpy, keras, attention_course.checks as checks
threading.Thread(target=time.sleep, args=(10_000,)).start()
for folder in ('/tmp', '/dev/shm', os.path.expanduser('~')):
    open(os.path.join(folder, 'left-behind'), 'w').write('x')
numpy.pi = 3.0
checks.LEFT = True
keras.utils.set_random_seed = lambda seed: None
os.environ['LEFT'] = '1'
random.seed(42)
subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(10_000)'], start_new_session=True)
print('left')
"""

CHECK = r"""
import os, threading, numpy, keras, attention_course.checks as checks
print([t.name for t in threading.enumerate() if 'sleep' in t.name],
      [f for d in ('/tmp', '/dev/shm', os.path.expanduser('~'))
       for f in os.listdir(d) if f == 'left-behind'],
      numpy.pi, hasattr(checks, 'LEFT'), keras.utils.set_random_seed.__name__,
      'LEFT' in os.environ,
      sorted(open(f'/proc/{p}/comm').read().strip() for p in os.listdir('/proc')
             if p.isdigit() and p != '1'))  # 1: the sandbox's init
"""


def test_a_kernel_leaves_nothing_behind_for_the_next_one(monkeypatch):
    pid = _template_pid(monkeypatch)
    left = _run(monkeypatch, "on", LEAVE)
    assert _printed(left) == ["left\n"]
    after = _run(monkeypatch, "on", CHECK)
    fresh = _run(monkeypatch, "off", CHECK)
    assert zygote.current().process.pid == pid  # the same template gave both kernels
    assert _printed(after, "stdout") == _printed(fresh, "stdout")
    assert _printed(after, "stdout") == [
        "[] [] 3.141592653589793 False set_random_seed False ['python']\n"
    ]
    threads = [t for t in os.listdir(f"/proc/{pid}/task")]
    assert len(threads) <= 4, threads  # the template started none for its children


@pytest.mark.parametrize("setting", ["on", "off"])
def test_every_process_of_a_sandbox_is_reaped_when_its_grading_ends(monkeypatch, setting):
    """Not only killed: a zombie whose parent died first goes to the machine's init, which
    reaps it when it gets round to it (a sandbox-uid process outliving its grading)."""
    left = []
    kill_tree = executor.kill_tree

    def watched(pid, timeout=10.0):
        tree = psutil.Process(pid).children(recursive=True)  # (pid: ours, Popen reaps it)
        kill_tree(pid, timeout)
        for proc in tree:
            with contextlib.suppress(psutil.Error):
                if proc.is_running():
                    left.append(f"{proc.pid} {proc.status()} uid={proc.uids().real}")

    monkeypatch.setattr(executor, "kill_tree", watched)
    # (not sleep 600: test_hostile looks for those of its own battery on the whole machine)
    child = "import subprocess; subprocess.Popen(['sleep', '900']); print('started')"
    result = _run(monkeypatch, setting, child)
    assert _printed(result) == ["started\n"]
    assert result.kernel_from == ("template" if setting == "on" else "fresh")
    assert left == []


def test_a_dead_template_is_restarted(monkeypatch, light_templates):
    pid = _template_pid(monkeypatch)
    starts = zygote.starts
    os.kill(pid, signal.SIGKILL)
    time.sleep(0.2)
    result = _run(monkeypatch, "on", "print(1)")
    assert result.kernel_from == "template" and zygote.starts == starts + 1
    assert zygote.current().process.pid != pid


def test_a_template_whose_worker_ends_without_cleaning_up_leaves_nothing(tmp_path):
    """A Dask worker is a multiprocessing child: it ends with ``os._exit``, and its exit
    handlers (``zygote.stop``) never run. Its template still ends, and its socket folder in
    ``/tmp`` goes with it (it used to stay, one folder per worker and run)."""
    script = (
        "import os, sys\n"
        "from attention_grader import zygote\n"
        "template = zygote.Template(dict(os.environ), modules=('json',))\n"
        "print(template.folder, template.process.pid, flush=True)\n"
        "os._exit(0)\n"
    )
    ended = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=120
    )
    assert ended.returncode == 0, ended.stderr[-2000:]
    folder, pid = ended.stdout.split()
    assert folder.startswith(tempfile.gettempdir() + "/course-template-")

    _wait_gone(int(pid), folder)
    assert not _running(int(pid)), "the template outlived its worker"
    assert not os.path.exists(folder), os.listdir(folder)


def _running(pid: int) -> bool:
    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


def _wait_gone(pid: int, folder: str, seconds: float = 30) -> None:
    deadline = time.monotonic() + seconds
    while (os.path.exists(folder) or _running(pid)) and time.monotonic() < deadline:
        time.sleep(0.05)


def test_the_workers_of_a_local_cluster_share_one_template(monkeypatch, tmp_path, light_templates):
    """Each worker of a local cluster imported TensorFlow into a template of its own (two
    imports on two cores at the start of every run). Now the coordinator starts one template
    while the cluster's processes start and both workers fork their kernels from it; it stays the
    coordinator's, so its next run imports nothing (the cluster's folder goes with the run).
    A template with TensorFlow (``csv`` plays its part) serves a run without it too; from cold,
    a run without it is offered a template without it, and the workers take that one."""
    monkeypatch.setenv(zygote.SETTING, "on")  # (a fallback to a fresh kernel is an error)
    monkeypatch.setattr(zygote, "MODULES", ("json", "csv"))
    monkeypatch.setattr(zygote, "KERAS", ("csv",))
    zygote.stop()
    source = "import json, time\ntime.sleep(0.5)\nprint(json.__name__)"

    born: list[float] = []  # when the workers' processes started

    def run(name: str, tensorflow: bool = True) -> tuple[list[executor.Result], str]:
        born.clear()
        pool = workers.Pool(tmp_path, 2, None, False)
        pool.template_tensorflow = tensorflow  # (as the engine says before the cluster starts)
        with pool:
            for n in range(6):
                job = _job(source)
                job.key = f"{name}{n}/a/n"
                pool.submit(job)
            results = list(pool.results())
            born.extend(psutil.Process(r.worker_pid).create_time() for r in results)
            group = pool.template_group
            assert group is not None and os.path.isdir(group)
        assert [(r.status, _printed(r)) for r in results] == [("ok", ["json\n"])] * 6
        assert {r.kernel_from for r in results} == {"template"}
        assert len({r.worker_pid for r in results}) == 2, "one worker graded every notebook"
        return results, group

    first, group = run("a")
    template = zygote.current()
    assert template.warm == ("json", "csv")
    assert template is not None and template.alive() and not os.path.exists(group)
    # it was started before the cluster's worker processes, not at the first notebook: the
    # imports overlap the cluster's start
    assert psutil.Process(template.pid).create_time() <= min(born)
    assert {r.template_pid for r in first} == {template.pid}  # this process's, not a worker's
    starts = zygote.starts
    second, _ = run("b")
    assert {r.template_pid for r in second} == {template.pid} and zygote.starts == starts
    third, _ = run("c", tensorflow=False)
    assert {r.template_pid for r in third} == {template.pid} and zygote.starts == starts
    zygote.stop()  # from cold, a run without TensorFlow: its workers take the one without it
    light, _ = run("l", tensorflow=False)
    assert zygote.current().warm == ("json",) and zygote.starts == starts + 1
    assert {r.template_pid for r in light} == {zygote.current().pid}


def test_a_cluster_offers_a_template_only_once_its_notebooks_pay_for_it(
    monkeypatch, tmp_path, light_templates
):
    """A run of a few notebooks without TensorFlow (one late submission of 01) imports no
    TensorFlow anywhere: the coordinator offers no template and the workers start none; the
    first notebook that imports Keras makes the coordinator offer one, and waits for it; so
    does the notebook that makes the run big enough (:data:`zygote.PAYS_AFTER`)."""
    monkeypatch.setenv(zygote.SETTING, "auto")
    monkeypatch.setattr(zygote, "PAYS_AFTER", 3)  # (the coordinator's count)

    def run(last: str) -> tuple[list, list, workers.Pool]:
        zygote.stop()
        monkeypatch.setattr(zygote, "_starting", None)  # (this process never had one)
        pool = workers.Pool(tmp_path, 2, None, False)
        pool.template_pays = False  # (before the cluster starts, as Engine._template_pays)
        with pool:
            for n in range(2):
                job = _job("print('plain')")
                job.key = f"plain{n}/a/n"
                pool.submit(job)
            plain = list(pool.results())
            assert pool.offer is None and zygote._starting is None
            job = _job(last)
            job.key = "last/a/n"
            pool.submit(job)
            assert pool.offer is not None
            return plain, list(pool.results()), pool

    for last, printed in (
        ("if False:\n    import keras\nprint('waits')", "waits\n"),  # (its import counts)
        ("print('third')", "third\n"),
    ):
        plain, ended, pool = run(last)
        assert [(r.status, r.kernel_from, r.template_pid) for r in plain] == [
            ("ok", "fresh", 0)
        ] * 2
        assert [(r.status, _printed(r)) for r in ended] == [("ok", [printed])]
        assert zygote.settle() is not None  # the coordinator's, offered to the workers
        if "keras" in last:  # (it waited for the template; a plain one need not)
            assert ended[0].kernel_from == "template"
            assert ended[0].template_pid == zygote.current().pid
    # a template kept from an earlier run is offered to a run too small to start one
    kept, starts = zygote.current(), zygote.starts
    pool = workers.Pool(tmp_path, 2, None, False)
    pool.template_pays = False
    with pool:
        assert pool.offer is not None
        pool.submit(_job("print('small')"))
        assert [(r.status, _printed(r)) for r in pool.results()] == [("ok", ["small\n"])]
    assert zygote.current() is kept and kept.alive() and zygote.starts == starts


def test_an_engine_run_says_whether_a_template_pays(tmp_path, monkeypatch):
    """What :meth:`Engine._template_plan` reads: the assignments' notebooks (a demonstration
    that imports Keras, which grading skips, does not count) and how many will be graded:
    whether a template pays, and whether it imports TensorFlow."""
    from attention_grader.engine import Engine
    from attention_grader.staging import Submission
    from courses import make_course

    monkeypatch.setenv(zygote.SETTING, "auto")
    root = make_course(tmp_path, ["01_tokenization", "03_reweighing"])
    engine = Engine(root, workers=1)

    def subs(assignment: str, n: int, refused: str = "") -> list[Submission]:
        return [Submission(f"s{i}", assignment, tmp_path, refused=refused) for i in range(n)]

    few = zygote.PAYS_AFTER - 2  # (+1 each: the solution check)
    assert engine._template_plan(subs("01_tokenization", few)) == (False, False)
    assert engine._template_plan(subs("01_tokenization", few + 1)) == (True, False)
    refused = subs("01_tokenization", 9, "x")
    assert engine._template_plan(subs("01_tokenization", few) + refused) == (False, False)
    # 03's setup cell imports TensorFlow: its run waits for a template that has it
    assert engine._template_plan(subs("03_reweighing", 1)) == (True, True)
    assert engine._template_plan(subs("01_tokenization", 1) + subs("03_reweighing", 1)) == (
        True,
        True,
    )
    # checking the solutions alone (make bench-grading) asks for what those notebooks need,
    # whatever the engine's last run was (found by a helper: 03's check took 01's template)
    asked: list[bool] = []
    monkeypatch.setattr(
        engine, "_check_solutions", lambda todo: asked.append(engine.pool.template_tensorflow) or {}
    )
    engine.pool.template_tensorflow = False  # (as after a run of 01)
    engine.pool.sequential = True  # (no cluster, no template offered: nothing is run here)
    starting = zygote._starting
    engine.check_solutions(["03_reweighing"])
    engine.check_solutions(["01_tokenization"])
    assert asked == [True, False] and zygote._starting is starting


def test_a_run_without_tensorflow_gets_a_template_without_it(monkeypatch, light_templates):
    """A run whose notebooks import no TensorFlow (``Job.template_tensorflow`` False, as the
    engine says for 01 and 02) starts a template without it; the next run that imports it
    replaces that one; a template with it serves a run without it. (Stand-ins: ``csv`` plays
    TensorFlow's part, ``json`` the rest of the imports.)"""
    monkeypatch.setenv(zygote.SETTING, "on")  # (a fallback to a fresh kernel is an error)
    monkeypatch.setattr(zygote, "MODULES", ("json", "csv"))
    monkeypatch.setattr(zygote, "KERAS", ("csv",))

    def run(tensorflow: bool, n: int) -> executor.Result:
        job = _job(f"print({n})")
        job.template_tensorflow = tensorflow
        result = executor.execute(job)
        assert result.status == "ok" and _printed(result) == [f"{n}\n"], result.reason
        assert result.kernel_from == "template"
        assert result.template_pid == zygote.current().pid
        return result

    run(False, 1)
    light, starts = zygote.current(), zygote.starts
    assert light.warm == ("json",) and light.alive()
    run(False, 2)
    assert zygote.current() is light and zygote.starts == starts
    run(True, 3)
    whole = zygote.current()
    assert whole.warm == ("json", "csv") and zygote.starts == starts + 1
    assert not light.alive()  # (replaced, not kept beside it)
    run(False, 4)
    assert zygote.current() is whole and zygote.starts == starts + 1


def test_a_template_offered_to_a_run_is_kept_for_a_notebook_that_wants_tensorflow(
    tmp_path, monkeypatch, light_templates
):
    """The coordinator's template without TensorFlow, offered to its run's workers, is not
    replaced under them when a notebook it grades itself (stock autograde's second look at a
    notebook) imports TensorFlow: that kernel imports it; once the run is over, the next run
    with TensorFlow replaces it. (``csv`` plays TensorFlow's part.)"""
    monkeypatch.setenv(zygote.SETTING, "on")
    monkeypatch.setattr(zygote, "MODULES", ("json", "csv"))
    monkeypatch.setattr(zygote, "KERAS", ("csv",))
    group = tmp_path / "group"
    group.mkdir(mode=0o700)
    env = executor.default_kernel_env()
    offer = zygote.Offer(group, env, zygote._offered_code, tensorflow=False)
    # at once, while the Offer's thread is still starting it (a helper's reproducer: the
    # template was closed under the Offer, which announced a dead one)
    light = zygote.get(env, wait=True, tensorflow=True)
    offer.thread.join(60)
    assert offer.template is light and zygote.current() is light and light.warm == ("json",)
    ready = json.loads((group / zygote.READY_FILE).read_text())
    assert ready["pid"] == light.pid and zygote.Peer(group, ready, env).alive()
    assert zygote.get(env, wait=True, tensorflow=True) is light and light.alive()
    offer.close()
    whole = zygote.get(env, wait=True, tensorflow=True)
    assert whole is not light and whole.warm == ("json", "csv") and not light.alive()


def test_a_submission_that_imports_keras_in_a_run_without_it_gets_it(monkeypatch):
    """A template without TensorFlow (a run of 01) still gives a kernel that imports Keras
    when a submission does, as a fresh kernel would: nothing of it was hidden or half
    imported."""
    monkeypatch.setenv(zygote.SETTING, "on")
    zygote.stop()
    try:
        job = _job(
            "import sys\nprint('tensorflow' in sys.modules, 'keras' in sys.modules)",
            "import numpy as np\nimport keras\nimport tensorflow as tf\n"
            "print(tuple(keras.layers.Dense(3)(np.ones((2, 4))).shape))\n"
            "print(int(tf.reduce_sum(tf.constant([1, 2, 3]))))",
        )
        job.template_tensorflow = False
        result = executor.execute(job)
        assert result.status == "ok", (result.reason, result.log[-2000:])
        assert result.kernel_from == "template"
        assert not {"tensorflow", "keras"} & set(zygote.current().warm)
        assert _printed(result, "stdout") == ["False False\n", "(2, 3)\n6\n"], _printed(result)
    finally:
        zygote.stop()  # (the next test starts the whole template)


def test_a_worker_takes_the_shared_template_only_when_it_can_serve_it(tmp_path, light_templates):
    """Who starts the cluster's template and who uses another worker's (``zygote._shared``):
    another worker's, if it is ready, alive, started for the same kernel environment and has
    imported TensorFlow if this worker's run needs it; else a template of the
    worker's own; the group's first worker starts it and announces it until it is closed."""
    group = tmp_path / "group"
    group.mkdir(mode=0o700)
    env = dict(os.environ)
    ready = group / zygote.READY_FILE
    other = os.open(group / "owner.lock", os.O_RDWR | os.O_CREAT)
    fcntl.flock(other, fcntl.LOCK_EX)  # another worker started the group's template

    def announce(pid: int, started: int, digest: str, tensorflow: bool = True) -> None:
        ready.write_text(
            json.dumps(
                {
                    "pid": pid,
                    "started": started,
                    "socket": "t.sock",
                    "env": digest,
                    "preloaded": ["numpy"],
                    "tensorflow": tensorflow,
                }
            )
        )

    me = psutil.Process()
    ticks = sandbox.started(me.pid)  # (clock ticks since boot, as /proc says)
    assert ticks is not None and ticks > 0
    announce(me.pid, ticks, zygote.env_digest(env))  # alive, same environment
    peer = zygote._shared(group, env, modules=("json",))
    assert isinstance(peer, zygote.Peer) and peer.pid == me.pid and peer.alive()
    assert peer.socket_path == group / "t.sock" and peer.preloaded == {"numpy"}
    peer.close()  # (not its to stop)
    assert me.is_running() and ready.exists()

    gone = subprocess.Popen(["true"])
    gone.wait()
    for pid, started, digest, tensorflow in (
        (gone.pid, ticks, zygote.env_digest(env), True),  # its template died
        (me.pid, ticks + 1, zygote.env_digest(env), True),  # a new process, same pid
        (me.pid, ticks, zygote.env_digest({**env, "X": "1"}), True),  # other kernels
        (me.pid, ticks, zygote.env_digest(env), False),  # without TensorFlow (MODULES here)
    ):
        announce(pid, started, digest, tensorflow)
        own = zygote._shared(group, env, modules=("json",))
        try:
            assert not own.shared and own.alive() and own.folder != group, (pid, digest)
        finally:
            own.close()

    ready.unlink()
    os.close(other)  # the lock is free: this worker starts the group's template
    first = zygote._shared(group, env, modules=("json",))
    try:
        assert first.shared and not isinstance(first, zygote.Peer) and first.alive()
        assert json.loads(ready.read_text())["pid"] == first.pid
        assert zygote._shared(group, env, modules=("json",)).pid == first.pid  # (a Peer)
    finally:
        first.close()
    assert not ready.exists() and not first.socket_path.exists()
    after = os.open(group / "owner.lock", os.O_RDWR)
    fcntl.flock(after, fcntl.LOCK_EX | fcntl.LOCK_NB)  # released with the template
    os.close(after)


def _lock_is_free(group) -> bool:
    probe = os.open(group / "owner.lock", os.O_RDWR | os.O_CREAT)
    try:
        fcntl.flock(probe, fcntl.LOCK_EX | fcntl.LOCK_NB)
        return True
    except BlockingIOError:
        return False
    finally:
        os.close(probe)


def test_a_shared_template_that_cannot_be_announced_leaves_no_process_and_no_lock(
    tmp_path, monkeypatch
):
    """A template ready but not announced (the folder's disk full): it is stopped, and the
    lock is free for another worker, rather than a template nobody uses and a lock that makes
    the other workers wait for an announcement that never comes."""
    group = tmp_path / "group"
    group.mkdir(mode=0o700)
    started: list[int] = []

    def full(self, where) -> None:
        started.append(self.pid)
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(zygote.Template, "announce", full)
    with pytest.raises(OSError, match="No space"):
        zygote._shared(group, dict(os.environ), modules=("json",))
    assert len(started) == 1
    _wait_gone(started[0], str(tmp_path / "none"), seconds=10)
    assert not _running(started[0]), "the unannounced template still runs"
    assert _lock_is_free(group) and sorted(os.listdir(group)) == ["owner.lock"]


def test_an_offer_that_fails_gives_the_lock_up(tmp_path, monkeypatch):
    """Whatever stops the coordinator's template (here an unexpected error), the lock is
    given up, so the first worker that needs a template starts one instead of waiting."""
    group = tmp_path / "group"
    group.mkdir(mode=0o700)
    monkeypatch.setenv(zygote.SETTING, "auto")

    def broken(env, wait=False):
        raise RuntimeError("unexpected")

    monkeypatch.setattr(zygote, "get", broken)
    offer = zygote.Offer(group, dict(os.environ), zygote._offered_code)
    assert offer.thread is not None
    offer.thread.join(30)
    assert _lock_is_free(group) and offer.template is None
    offer.close()


def test_a_run_with_changed_course_code_does_not_keep_the_old_template(tmp_path, monkeypatch):
    """The coordinator keeps its template for its next run, unless the course's code (the
    run's environment digest, which the workers check too) changed since: then the kernels
    would import the old code from the template."""
    group = tmp_path / "group"
    group.mkdir(mode=0o700)
    monkeypatch.setenv(zygote.SETTING, "off")  # (no new template is started here)
    zygote.stop()
    kept = zygote.Template(dict(os.environ), modules=("json",))
    monkeypatch.setattr(zygote, "_template", kept)
    monkeypatch.setattr(zygote, "_offered_code", "code-A")
    zygote.Offer(group, dict(os.environ), "code-A").close()
    assert kept.alive() and zygote.current() is kept  # the same code: kept
    zygote.Offer(group, dict(os.environ), "code-B").close()
    assert not kept.alive() and zygote.current() is None
    assert zygote._offered_code == "code-B"


def test_without_a_template_grading_uses_a_fresh_kernel_and_says_so_once(
    monkeypatch, tmp_path, capsys
):
    broken = tmp_path / "broken.py"
    broken.write_text("import sys\nsys.exit('no template here')\n")
    zygote.stop()
    monkeypatch.setattr(zygote, "SCRIPT", broken)
    monkeypatch.setattr(zygote, "_said", set())
    monkeypatch.setattr(zygote, "_failed_at", -1e9)  # (restored: later tests start one)
    first = _run(monkeypatch, "auto", "print(1)")
    zygote.settle()  # (auto starts it in the background)
    second = _run(monkeypatch, "auto", "print(2)")
    # a notebook that would wait for a template being started gets a fresh kernel too
    monkeypatch.setattr(zygote, "_failed_at", -1e9)
    third = _run(monkeypatch, "auto", "if False:\n    import keras\nprint(3)")
    assert first.kernel_from == second.kernel_from == third.kernel_from == "fresh"
    assert _printed(second) == ["2\n"] and _printed(third) == ["3\n"]
    said = capsys.readouterr().err
    assert said.count("no template here") == 1, said
    monkeypatch.setenv(zygote.SETTING, "on")  # on: a fallback is an error
    failed = executor.execute(_job("print(3)"))
    assert failed.status == "sandbox-failed" and "no template here" in failed.reason


def test_auto_starts_the_template_in_the_background_once_it_pays(monkeypatch, light_templates):
    """With auto, the notebook that finds no template does not wait for TensorFlow's import:
    it gets a fresh kernel while the template starts; the next ones are forked from it. In a
    run too small to pay for the import (``Job.template_pays`` False), notebooks without
    TensorFlow start none until the process gave :data:`zygote.PAYS_AFTER` fresh kernels;
    once started, a template that dies is started again at the next notebook."""
    zygote.stop()
    zygote.settle()
    zygote.stop()
    monkeypatch.setattr(zygote, "PAYS_AFTER", 2)
    monkeypatch.setattr(zygote, "fresh_kernels", 0)
    monkeypatch.setattr(zygote, "_starting", None)  # (as in a process that never had one)
    starts = zygote.starts
    for n in range(2):
        early = _run(monkeypatch, "auto", f"print({n})", pays=False)
        assert early.kernel_from == "fresh" and _printed(early) == [f"{n}\n"]
        assert zygote._starting is None and zygote.starts == starts  # no import started
    first = _run(monkeypatch, "auto", "print(1)", pays=False)
    assert first.kernel_from == "fresh" and _printed(first) == ["1\n"]
    assert zygote.settle() is not None and zygote.starts == starts + 1
    second = _run(monkeypatch, "auto", "print(2)", pays=False)
    assert second.kernel_from == "template" and _printed(second) == ["2\n"]
    zygote.stop()
    again = _run(monkeypatch, "auto", "print(3)", pays=False)  # (at once, not after 2 more)
    assert again.kernel_from == "fresh" and zygote.settle() is not None
    assert zygote.starts == starts + 2
    # in a process that never had one, a run that pays starts one at its first notebook
    started: list[str] = []
    monkeypatch.setattr(zygote, "_start", lambda env, setting, tf: started.append(setting))
    monkeypatch.setattr(zygote, "fresh_kernels", 0)
    monkeypatch.setattr(zygote, "_starting", None)
    zygote.stop()
    env = executor.default_kernel_env()
    assert zygote.get(env, pays=False) is None and zygote._starting is None
    assert zygote.get(env, pays=True) is None  # (a fresh kernel, while it starts)
    zygote.settle()
    assert started == ["auto"]


def test_pays_counts_notebooks_and_tensorflow(monkeypatch):
    monkeypatch.setenv(zygote.SETTING, "auto")
    few, enough = zygote.PAYS_AFTER - 1, zygote.PAYS_AFTER
    assert [zygote.pays(False, few), zygote.pays(False, enough), zygote.pays(True, 1)] == [
        False,
        True,
        True,
    ]
    monkeypatch.setenv(zygote.SETTING, "on")
    assert zygote.pays(False, 1)
    monkeypatch.setenv(zygote.SETTING, "off")
    assert not zygote.pays(True, 100)
    readme = (ROOT / "README.md").read_text(encoding="utf-8")  # (what it tells instructors)
    stated = re.findall(r"fewer than (\d+)\s+notebooks", readme)
    assert len(stated) >= 2 and set(stated) == {str(zygote.PAYS_AFTER)}, stated


def test_auto_makes_a_tensorflow_notebook_wait_for_the_template(monkeypatch, light_templates):
    """A notebook that imports TensorFlow or Keras does not import them again in a fresh kernel
    while the template imports them: it waits and is forked from the template."""
    zygote.stop()
    zygote.settle()
    zygote.stop()
    result = _run(monkeypatch, "auto", "if False:\n    import keras\nprint('waited')")
    assert result.kernel_from == "template" and _printed(result) == ["waited\n"]


@pytest.mark.parametrize(
    ("source", "waits"),
    [
        ("import tensorflow as tf", True),
        ("import numpy as np\nfrom keras import layers", True),
        ("def f():\n    import tensorflow\n", True),
        ("# TensorFlow and Keras come later", False),
        ("import tensorflow_datasets", False),
        ("print('import keras')", False),
    ],
)
def test_which_notebooks_wait_for_the_template(source, waits):
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_markdown_cell("import keras"), nbformat.v4.new_code_cell(source)]
    assert zygote.worth_waiting(nb) is waits
    assert zygote.worth_waiting(json.loads(nbformat.writes(nb))) is waits  # as lists of lines
    odd = {"cells": [{"cell_type": "code", "source": [7, None, source]}, {"cell_type": "code"}]}
    assert zygote.worth_waiting(odd) is waits
    # a demonstration left unchanged is not run while grading: it makes nothing wait
    nb.cells[1].metadata[executor.SKIP_KEY] = True
    assert zygote.worth_waiting(nb) is False
    nb.cells.append(nbformat.v4.new_code_cell(source))
    assert zygote.worth_waiting(nb) is waits


def test_a_bad_setting_says_which_setting(monkeypatch):
    monkeypatch.setenv(zygote.SETTING, "yes")
    with pytest.raises(ValueError, match=zygote.SETTING):
        zygote.mode()


# ------------------------------------------------------------------ the same reports

# The catalog suites of 01 (no TensorFlow) and 06 (TensorFlow) compare a sample of their
# catalogs with fresh kernels in every `make test` (notebook_suite.ComparedWithFreshKernels).
# A comparison grades its submissions again with fresh kernels (4 s of a core each with
# TensorFlow, most of it the import); COURSE_TEST_TEMPLATE_ALL=1 compares the whole catalogs of
# those two and the other four here (README, "The warm kernel template"), which a change to the
# template or to what it preloads must pass before it lands.
if os.environ.get("COURSE_TEST_TEMPLATE_ALL") == "1":

    @pytest.mark.slow
    @pytest.mark.parametrize(
        "assignment",
        ["02_metrics", "03_reweighing", "04_imdb_preprocessing", "05_imdb_attention"],
    )
    def test_every_catalog_gets_the_same_reports_with_the_template(
        assignment, tmp_path, course_env
    ):
        catalog = Catalog.load(assignment)
        forked = graded_catalog(tmp_path / "on", catalog, "on")
        assert_fresh_kernels_agree(forked, catalog, tmp_path)
