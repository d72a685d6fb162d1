"""A warm kernel template of one grading worker, or of the workers of one local cluster
(run as a script, standard library only).

``_zygote.py SOCKET MODULES``: started by :mod:`attention_grader.zygote` as root with exactly
the kernel's environment. It listens on the Unix socket ``SOCKET`` (in a folder only root can
enter), then gives itself a private mount namespace (its own empty ``/tmp`` and ``/home``, so
nothing a library writes while it is imported lands on the host), imports ``MODULES`` (a JSON
list: TensorFlow, Keras, NumPy, ... what the notebooks' setup cells import) and never runs
anything else: no TensorFlow op, no student code. It says ``ready`` on its standard output.

For each request (one connection: a JSON request and the write end of the kernel's log pipe)
it forks a child C, which

1. joins the sandbox's memory cgroup and sets the sandbox's resource limits;
2. enters the namespaces of the sandbox bubblewrap built (``/proc/<holder>/ns/*``: IPC, UTS,
   network, cgroup, PID, mount) and its root (``fchdir`` + ``chroot``), holds the sandbox open
   (the holder's FIFO) and forks a child M (the PID namespace applies to children; M has
   pid 3, as the holder used pid 2 once and freed it), which starts a session, sets the
   namespace's next pid and forks the kernel K with pid 2, and exits: K becomes a child of the
   sandbox's own init (pid 2, parent pid 1, in the launcher's process tree, as a fresh
   kernel); C says so and exits (three forks of the template's memory, not four);
3. K starts a session, gives up root exactly as the sandbox's launcher does (no capabilities
   in any set, no supplementary groups, the sandbox's uid, no new privileges), keeps only the
   log pipe and the holder's FIFO open, takes the kernel's environment, ``sys.argv`` and
   ``sys.path`` (as ``python -m ipykernel_launcher`` would have them), reseeds the random
   generators and becomes the Jupyter kernel.

The template exits when its standard input reaches end of file (the process that started it
is gone); its watcher then removes its socket and log. A student's kernel cannot reach it: it
is not in the sandbox's PID namespace (no signal, no ``ptrace``, no ``/proc/<pid>``), its
socket is in a folder the sandbox does not mount, and the child shares no writable memory
with it (copy-on-write).
"""

import ctypes
import gc
import importlib
import importlib.machinery
import importlib.util
import json
import os
import random
import resource
import select
import signal
import socket
import sys

CLONE_NEWNS = 0x00020000
MS_REC, MS_PRIVATE, MS_NOSUID, MS_NODEV = 16384, 1 << 18, 2, 4
MS_RDONLY, MS_REMOUNT, MS_BIND = 1, 32, 4096
PR_SET_PDEATHSIG, PR_SET_DUMPABLE, PR_CAPBSET_DROP, PR_SET_NO_NEW_PRIVS = 1, 4, 24, 38
NAMESPACES = ("ipc", "uts", "net", "cgroup", "pid", "mnt")  # mnt last: /proc paths change
HOME = "/home/student"

_libc = ctypes.CDLL(None, use_errno=True)


def _load(name: str):  # noqa: ANN202 - a module
    """``name``.py next to this file, loaded now (the kernel installs its seccomp filter
    after entering the sandbox, where this folder is not mounted)."""
    spec = importlib.util.spec_from_file_location(
        f"_course{name}", os.path.join(os.path.dirname(os.path.abspath(__file__)), f"{name}.py")
    )
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


_SECCOMP = _load("_seccomp")
_LAUNCH = _load("_launch")  # (joins a cgroup as the sandbox's launcher does)


def _check(result: int, what: str) -> None:
    if result != 0:
        error = ctypes.get_errno()
        raise OSError(error, f"{what}: {os.strerror(error)}")


def _private_mounts(keep: list[str]) -> None:
    """A mount namespace of the template's own: ``/tmp`` and ``/home`` are empty tmpfs, but for
    the folders of ``keep`` below them (Python and the packages, e.g. a checkout or a venv in
    ``/tmp``), bound back read-only, as the sandbox binds them."""
    _check(_libc.unshare(CLONE_NEWNS), "unshare(CLONE_NEWNS)")
    _check(_libc.mount(None, b"/", None, MS_REC | MS_PRIVATE, None), "mount --make-rprivate /")
    tops = ("/tmp", "/home")
    hidden = sorted(
        {p for p in keep if any(p == t or p.startswith(t + "/") for t in tops) and os.path.isdir(p)}
    )
    kept = {path: os.open(path, os.O_PATH | os.O_DIRECTORY | os.O_CLOEXEC) for path in hidden}
    for target, mode in ((b"/tmp", b"mode=1777"), (b"/home", b"mode=0755")):
        _check(
            _libc.mount(b"tmpfs", target, b"tmpfs", MS_NOSUID | MS_NODEV, b"size=64m," + mode),
            f"mount tmpfs {target.decode()}",
        )
    for path, fd in kept.items():
        os.makedirs(path, mode=0o755, exist_ok=True)
        source = f"/proc/self/fd/{fd}".encode()
        _check(_libc.mount(source, path.encode(), None, MS_BIND | MS_REC, None), f"bind {path}")
        flags = MS_REMOUNT | MS_BIND | MS_RDONLY | MS_NOSUID | MS_NODEV
        _check(_libc.mount(None, path.encode(), None, flags, None), f"read-only {path}")
        os.close(fd)
    os.makedirs(HOME, 0o755, exist_ok=True)
    os.chdir(HOME)


class _Stash:
    """Modules the template imported that a fresh kernel has not imported yet (the warm
    families: TensorFlow, Keras, NumPy..., and every package that came with them), out of
    ``sys.modules`` until the kernel imports them: then this finder puts the same module
    objects back, without running them again. A family comes back with the families imported
    before it or with it in the warm-up (its likely dependencies), so ``"keras" in
    sys.modules`` is what it would be in a fresh kernel (``attention_course.notebook.set_seeds``
    asks exactly that); a package that only came with them comes back alone. A file of the
    submission named like any of them (``numpy.py``, ``absl.py``) wins, as in a fresh kernel."""

    def __init__(self, steps: list, draws: list, warm: set, envs: list, base_env: dict) -> None:
        self.steps = steps  # [top-level names each warm-up import added], in order
        self.draws = draws  # [32-bit numbers each of those imports drew from `random`]
        self.envs = envs  # [what each of those imports set in os.environ]
        self.base_env = base_env  # what the base imports set in os.environ (debugpy's)
        self.warm = warm  # the families the warm-up imports by name (the rest came with them)
        self.restored = 0  # the steps before this one are back
        self.modules: dict = {}
        self.loading: dict = {}  # name -> the module's own spec, between create and exec

    def names(self) -> set:
        """The top-level names hidden in a kernel (the worker gives a submission that brings a
        file of one of these names a fresh kernel)."""
        return {family for step in self.steps for family in step}

    def hide(self) -> None:
        families = self.names()
        for name in list(sys.modules):
            if name.split(".")[0] in families:
                self.modules[name] = sys.modules.pop(name)
        # multiprocessing's import made the template's script its __mp_main__: in a kernel its
        # import makes the kernel's __main__ that (see _after_restore)
        self.modules.pop("__mp_main__", None)
        sys.meta_path.insert(0, self)

    def _restore(self, name: str) -> None:
        """Put back ``name``'s family and those imported before it, all but ``name`` itself
        (the loader gives that one: in ``sys.modules`` now, the import system would run its
        own spec again); draw from ``random`` what their imports drew (a fresh kernel's
        import would draw it now) and set in ``os.environ`` what they set (``TF2_BEHAVIOR``,
        ``KMP_DUPLICATE_LIB_OK``...). A package that only came with a warm family (scipy,
        pandas, absl...) comes back alone."""
        family = name.split(".")[0]
        if family not in self.warm:
            for other in [n for n in self.modules if n.split(".")[0] == family and n != name]:
                sys.modules.setdefault(other, self.modules.pop(other))
            _after_restore({family})
            return
        index = next((i for i, step in enumerate(self.steps) if family in step), -1)
        if index < self.restored:
            return
        wanted = {f for step in self.steps[: index + 1] for f in step}
        moving = [n for n in self.modules if n.split(".")[0] in wanted and n != name]
        for other in moving:
            sys.modules.setdefault(other, self.modules.pop(other))
        for _ in range(sum(self.draws[self.restored : index + 1])):
            random.getrandbits(32)
        for changes in self.envs[self.restored : index + 1]:
            _set_environ(changes)
        self.restored = index + 1
        _after_restore({other.split(".")[0] for other in moving} | {family})

    def _families(self, name: str) -> set:
        """The families an import of ``name`` brings back now."""
        family = name.split(".")[0]
        if family not in self.warm:
            return {family}
        index = next((i for i, step in enumerate(self.steps) if family in step), -1)
        return {f for step in self.steps[self.restored : index + 1] for f in step} | {family}

    def _shadowed(self, family: str) -> bool:
        """Whether a file earlier on ``sys.path`` (the home folder's ``numpy.py``) has the
        family's name: a fresh kernel would import that one. (A frozen or built-in module is
        found before any file, in a fresh kernel too.)"""
        module = self.modules.get(family)
        if module is None:
            return False
        own = getattr(getattr(module, "__spec__", None), "origin", None)
        if own in ("frozen", "built-in"):
            return False
        found = importlib.machinery.PathFinder.find_spec(family, sys.path)
        return found is not None and found.origin != own

    def find_spec(self, name, path=None, target=None):
        module = self.modules.get(name)
        if module is None:
            return None
        if any(self._shadowed(family) for family in self._families(name)):
            return None  # imported from the files, as in a fresh kernel (which then fails)
        self._restore(name)
        return importlib.util.spec_from_loader(name, self, is_package=hasattr(module, "__path__"))

    def create_module(self, spec):
        module = self.modules.pop(spec.name)
        self.loading[spec.name] = getattr(module, "__spec__", None)
        return module

    def exec_module(self, module) -> None:
        # the import system set this finder's spec (its name is the one imported): put the
        # module's own back; nothing runs again
        module.__spec__ = self.loading.pop(module.__spec__.name)


def _after_restore(families: set) -> None:
    """What importing ``families`` sets up from the state of the process it runs in, set up
    again for the kernel (in the template it saw a process that was not a kernel)."""
    if "multiprocessing" in families and "__main__" in sys.modules:
        sys.modules["__mp_main__"] = sys.modules["__main__"]  # (multiprocessing/__init__.py)
    if "tensorflow" in families:
        _tensorflow_logging()


def _tensorflow_logging() -> None:
    """TensorFlow sets up its logger as it is imported (``tf_logging.get_logger``): in an
    interactive process (``sys.ps1``: a kernel) at level INFO with a handler on ``sys.stdout``
    (the notebook's output), else with a handler on ``sys.stderr``; autograph echoes its log
    to stdout in an interactive process. The template was not interactive: its logger wrote to
    the template's stderr (in a kernel, the kernel's log) and dropped INFO."""
    import logging

    tf_logging = sys.modules.get("tensorflow.python.platform.tf_logging")
    if tf_logging is not None and tf_logging._logger is not None:
        logger = tf_logging._logger
        for handler in list(logger.handlers):
            if getattr(handler, "stream", None) in (sys.__stdout__, sys.__stderr__):
                logger.removeHandler(handler)  # the one the template's import added
        logger.setLevel(logging.NOTSET)
        tf_logging._logger = None
        tf_logging.get_logger()
    ag_logging = sys.modules.get("tensorflow.python.autograph.utils.ag_logging")
    if ag_logging is not None:
        ag_logging.echo_log_to_stdout = hasattr(sys, "ps1") or hasattr(sys, "ps2")


def _environ_changes(before: dict) -> dict:
    """What was set in (a string) or removed from (None) ``os.environ`` since ``before``."""
    now = dict(os.environ)
    changes: dict = {name: value for name, value in now.items() if before.get(name) != value}
    changes.update((name, None) for name in before.keys() - now.keys())
    return changes


def _set_environ(changes: dict) -> None:
    for name, value in changes.items():
        if value is None:
            os.environ.pop(name, None)
        else:
            os.environ[name] = value


def _random_words(before: tuple, after: tuple) -> int:
    """How many 32-bit outputs of ``random``'s Mersenne Twister lie between two states (an
    import that draws, e.g. ``rich.style``'s ``getrandbits(24)``, draws fewer than 624)."""
    (_, state0, _), (_, state1, _) = before, after
    if state0 == state1:
        return 0
    if state0[:-1] == state1[:-1]:
        return state1[-1] - state0[-1]
    return 624 - state0[-1] + state1[-1]  # one twist in between


def _map_module_files() -> None:
    """Fill :mod:`inspect`'s map of module files once, here: the first traceback a kernel
    shows calls ``inspect.getmodule``, which maps the file of every module in ``sys.modules``
    before it can answer (0.15-0.3 s with TensorFlow imported, in every kernel that shows an
    error; a few milliseconds after). The map holds each module's name and file, which a
    fresh kernel's first traceback computes the same way from the same files; a kernel
    forked from the template finds it filled and maps only what it imports itself."""
    import inspect  # (ipykernel imports it: no module a fresh kernel lacks)

    inspect.getmodule(compile("", "<kernel template>", "exec"))


def _warm(base: list, modules: list) -> _Stash:
    """Import ``base`` (what a fresh kernel imports anyway), then ``modules``, recording per
    import which top-level packages it brought in (every one a fresh kernel had not imported:
    the warm families and what came with them, e.g. scipy, pandas, absl), how many numbers
    it drew from ``random`` and what it set in ``os.environ``."""
    environ = dict(os.environ)
    for name in base:
        importlib.import_module(name)
    base_env = _environ_changes(environ)
    before = {name.split(".")[0] for name in sys.modules}
    present: set = set()
    steps, draws, envs = [], [], []
    for name in modules:
        state, environ = random.getstate(), dict(os.environ)
        importlib.import_module(name)
        draws.append(_random_words(state, random.getstate()))
        envs.append(_environ_changes(environ))
        now = {name.split(".")[0] for name in sys.modules} - before
        steps.append(now - present)
        present = now
    _map_module_files()
    gc.collect()
    gc.freeze()  # the children leave these objects' pages shared (no reference counts written)
    warm = {name.split(".")[0] for name in modules} - before
    return _Stash(steps, draws, warm, envs, base_env)


def _serve(listener: socket.socket):
    """Fork a child per request; return (connection, request, fds) in the child."""
    signal.signal(signal.SIGCHLD, signal.SIG_IGN)  # children are reaped by the kernel
    while True:
        ready, _, _ = select.select([listener, sys.stdin], [], [])
        if sys.stdin in ready and not os.read(sys.stdin.fileno(), 1024):
            raise SystemExit(0)  # the worker that started the template is gone
        if listener not in ready:
            continue
        conn, _ = listener.accept()
        try:
            conn.settimeout(10)
            data, fds, _, _ = socket.recv_fds(conn, 1 << 20, 2)
            request = json.loads(data)
        except (OSError, ValueError):
            conn.close()
            continue
        if os.fork() == 0:
            signal.signal(signal.SIGCHLD, signal.SIG_DFL)
            listener.close()
            return conn, request, fds
        conn.close()
        for fd in fds:
            os.close(fd)


def _enter(request: dict) -> int:
    """In C: cgroup, limits, the sandbox's namespaces and root; return the FIFO's fd."""
    for procs in request["cgroup_procs"]:
        _LAUNCH.join_cgroup(procs)
    for which, value in (
        (resource.RLIMIT_AS, request["as"]),
        (resource.RLIMIT_NPROC, request["nproc"]),
        (resource.RLIMIT_FSIZE, request["fsize"]),
        (resource.RLIMIT_CORE, 1),  # 1, not 0: no core file, nor one piped to a program
        (resource.RLIMIT_MEMLOCK, 0),  # (locked memory can be outside the cgroup's)
        (resource.RLIMIT_NOFILE, 4096),
    ):
        hard = resource.getrlimit(which)[1]
        if hard != resource.RLIM_INFINITY:
            value = min(value, hard)
        resource.setrlimit(which, (value, value))
    holder = int(request["holder"])
    root = os.open(f"/proc/{holder}/root", os.O_RDONLY | os.O_DIRECTORY)
    fds = [os.open(f"/proc/{holder}/ns/{name}", os.O_RDONLY) for name in NAMESPACES]
    for name in NAMESPACES:
        if os.readlink(f"/proc/{holder}/ns/{name}") == os.readlink(f"/proc/self/ns/{name}"):
            raise OSError(f"the sandbox has no {name} namespace of its own")
    for name, fd in zip(NAMESPACES, fds, strict=True):
        _check(_libc.setns(fd, 0), f"setns({name})")
        os.close(fd)
    os.fchdir(root)
    os.chroot(".")
    os.close(root)
    return os.open(request["fifo"], os.O_WRONLY | os.O_NONBLOCK)


def _drop(uid: int) -> None:
    """In K: no capabilities, no groups, the sandbox's uid, no new privileges."""
    cap = 0
    while _libc.prctl(PR_CAPBSET_DROP, cap, 0, 0, 0) == 0:
        cap += 1
    os.setgroups([])
    os.setresgid(uid, uid, uid)
    os.setresuid(uid, uid, uid)  # clears the permitted and effective capabilities
    if os.getresuid() != (uid, uid, uid) or os.getgroups():
        raise OSError("the sandbox's uid could not be taken")
    _check(_libc.prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0), "no_new_privs")
    _SECCOMP.install()  # no keyrings, as a fresh kernel (``_seccomp.py``)
    # A change of uid made K undumpable (its /proc files root's): a kernel exec'd after the
    # change is dumpable, so K is too. It holds nothing of root's any more.
    _check(_libc.prctl(PR_SET_DUMPABLE, 1, 0, 0, 0), "dumpable")


def _become_kernel(request: dict, log_fd: int, hold_fd: int) -> None:
    """In K, after :func:`_drop`: the standard streams, the environment, argv and path."""
    os.chdir(request["home"])
    null = os.open("/dev/null", os.O_RDONLY)
    os.dup2(null, 0)
    os.dup2(log_fd, 1)
    os.dup2(log_fd, 2)
    keep = sorted({0, 1, 2, hold_fd})
    bounds = [*keep[1:], resource.getrlimit(resource.RLIMIT_NOFILE)[0]]
    for low, high in zip(keep, bounds, strict=True):
        os.closerange(low + 1, high)
    os.environ.clear()
    os.environ.update(request["env"])
    os.environ["PWD"] = request["home"]  # as bubblewrap's --chdir sets it
    launcher = importlib.util.find_spec("ipykernel_launcher").origin  # what -m would run
    sys.argv[:] = [launcher, *request["args"]]
    sys.orig_argv[:] = [sys.executable, "-m", "ipykernel_launcher", *request["args"]]
    sys.path[:] = request["path"]  # ipykernel_launcher removes the '' that -m put first
    random.seed()  # a fresh kernel's generators start from the operating system's entropy
    _forget_the_template()
    if "numpy" in sys.modules:
        sys.modules["numpy"].random.seed()


def _forget_the_template() -> None:
    """In K: what the base imports and the forks left naming the template's process or host
    (found by comparing every module's globals with a fresh kernel's)."""
    platform = sys.modules.get("platform")
    if platform is not None:  # the imports' uname() named the template's host, not the sandbox
        platform._uname_cache = None
    threading = sys.modules.get("threading")
    if threading is not None and hasattr(threading.main_thread(), "_set_native_id"):
        threading.main_thread()._set_native_id()  # (a fork keeps the template's, Python 3.11)
    schema_log = sys.modules.get("_pydevd_bundle._debug_adapter.pydevd_schema_log")
    if schema_log is not None:  # debugpy's log prefix: the template's pid
        schema_log._pid = os.getpid()
        schema_log._pid_msg = f"{schema_log._pid}: "


def _die_with_the_worker(socket_path: str) -> None:
    """The template ends when the worker that started it is gone (its stdin reaches end of
    file), even in the middle of its imports: a small child, forked before them, watches. It
    then removes the template's socket and log and their folder: a worker that ends without
    running its exit handlers (a Dask worker is a multiprocessing child, which ends with
    ``os._exit``) could not."""
    template = os.getpid()
    if os.fork() == 0:
        try:
            while os.read(0, 4096):
                pass
        except OSError:
            pass
        if os.getppid() == template:  # (not when the template ended first)
            os.kill(template, signal.SIGKILL)
        folder = os.path.dirname(socket_path)
        for name in (socket_path, os.path.splitext(socket_path)[0] + ".log"):
            try:
                os.unlink(name)
            except OSError:
                pass
        try:
            os.rmdir(folder)  # (only if nothing else is in it: not a cluster's shared folder)
        except OSError:
            pass
        os._exit(0)


def main() -> None:
    path, modules = sys.argv[1], json.loads(sys.argv[2])
    _die_with_the_worker(path)
    del sys.path[0]  # not the script's folder
    kernel_path = list(sys.path)
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    listener.bind(path)
    os.chmod(path, 0o600)
    listener.listen(16)
    _private_mounts(modules.get("keep", []))
    stash = _warm(modules["base"], modules["warm"])
    # "ready", then the top-level names the kernel would find preloaded (see shadowed())
    preloaded = sorted(stash.names())
    sys.stdout.write("ready " + json.dumps(preloaded) + "\n")
    sys.stdout.flush()
    conn, request, fds = _serve(listener)
    # C: from here on, every error goes back to the worker and C exits
    try:
        log_fd = fds[0]
        # the kernel gets pid 2 in the sandbox, as a fresh one (tracebacks name the cells'
        # files /tmp/ipykernel_<pid>/...): the holder used pid 2 once and freed it
        # (_launch.hold), so M gets pid 3 and gives pid 2 to the kernel through the
        # namespace's next pid (opened here: the sandbox's own /proc/sys is read-only)
        last_pid = os.open("/proc/sys/kernel/ns_last_pid", os.O_WRONLY)
        hold_fd = _enter(request)
        ready, said = os.pipe()
        middle = os.fork()  # M, in the sandbox's PID namespace
        if middle:
            os.close(said)
            status = os.waitpid(middle, 0)[1]
            word = os.read(ready, 64)
            if status != 0 or word != b"ok":
                raise OSError(f"the kernel could not be forked ({word.decode() or status})")
    except BaseException as error:  # noqa: BLE001 - reported to the worker
        conn.sendall(json.dumps({"error": f"{type(error).__name__}: {error}"}).encode())
        os._exit(1)
    if middle:
        conn.sendall(json.dumps({"forked": True}).encode())
        os._exit(0)
    # M: the kernel's parent exits, so the kernel becomes a child of the sandbox's init
    # (parent pid 1, in the launcher's process tree), as a fresh one.
    try:
        os.close(ready)
        # a session of its own, whose leader is not the kernel (as bwrap's): M's, pid 3
        os.setsid()
        os.write(last_pid, b"1")
        kernel = os.fork()
        if kernel:
            os.write(said, b"ok" if kernel == 2 else f"pid {kernel}, not 2".encode())
            os._exit(0)
        os.close(said)
        os.close(last_pid)
        os.write(hold_fd, f"{os.getpid()}\n".encode())  # the holder waits for this pid
    except OSError:
        os._exit(1)
    conn.close()
    try:
        _drop(int(request["uid"]))
        request["path"] = kernel_path
        _become_kernel(request, log_fd, hold_fd)
        _set_environ(stash.base_env)  # (as a fresh kernel's start sets it)
        request.clear()  # (host pids and cgroup paths: the kernel could find the dict)
        stash.hide()
        # multiprocessing draws its key at import: the template's, unless drawn again here
        mp = sys.modules.get("multiprocessing") or stash.modules.get("multiprocessing")
        if mp is not None:
            mp.current_process().authkey = os.urandom(32)
    except BaseException as error:  # noqa: BLE001 - K's stderr is the kernel's log
        os.write(2, f"kernel template: {type(error).__name__}: {error}\n".encode())
        os._exit(1)
    from ipykernel import kernelapp

    kernelapp.launch_new_instance()


if __name__ == "__main__":
    main()
