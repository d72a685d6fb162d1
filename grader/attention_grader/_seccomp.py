"""A seccomp filter for a grading kernel (standard library only: ``_launch.py`` and
``_zygote.py``, which import nothing of the grader's package, load it from this file).

Refused:

- The kernel keyrings belong to a uid, not to a sandbox: a key a kernel adds to its user
  keyring (``add_key``) outlives the sandbox and can be read by the next kernel that gets the
  same uid (a channel from one student to another), and a kernel can fill that uid's key
  quota. A kernel has no use for keyrings, so ``add_key``, ``request_key`` and ``keyctl``
  fail with ``EPERM``.
- A new user namespace. Root's sandboxes have none of their own (the launcher takes the
  sandbox's uid in the machine's), so bubblewrap's ``--disable-userns`` does not apply: a
  kernel that made one would hold every capability in it and could build mount namespaces
  without end (millions of mounts in the memory limit: a teardown of many seconds that
  outlasts the grader's kill, the host's mount table stalled). ``unshare`` and ``clone`` with
  ``CLONE_NEWUSER`` fail with ``EPERM``; ``clone3``, whose flags are in memory a filter cannot
  read, fails with ``ENOSYS``, and the C library then falls back to ``clone`` (threads,
  ``fork`` and subprocesses work as before).
- Sockets but Unix and TCP ones (``EAFNOSUPPORT``, ``EPROTONOSUPPORT``; netlink ones
  ``EOPNOTSUPP``, on which ZeroMQ lists no interfaces instead of aborting): the kernel talks
  to the grader over Unix sockets, and to itself over TCP on its loopback (IPython's pipe for
  the output of forked processes); the sandbox has no network. A network namespace does not
  isolate every family (``AF_VSOCK`` reaches the hypervisor's and the machine's own ports,
  netlink the machine's device events), and some buffers are charged to no memory limit:
  UDP's, and the replies netlink queues for a socket that never reads (2 GB beyond the limit
  in 15 s, measured); TCP's are, see ``sandbox.TCP_BUFFER_BYTES``.
- ``io_uring_setup`` (it would make sockets and more without the calls this filter sees),
  ``io_setup`` (the machine's pool of asynchronous I/O contexts is shared) and
  ``perf_event_open`` (its ring buffers are pinned outside the memory limit) fail with
  ``ENOSYS``, as on a kernel without them.

Every other system call is allowed (the sandbox's namespaces, uid and limits do the rest).

On a machine this filter does not know, nothing is filtered (:func:`install` says so by
returning False). A system call made through another ABI than the machine's own (the i386 ABI
of x86-64 through ``int 0x80``, where ``keyctl`` is number 288; the x32 ABI, numbers with bit
30 set) is refused whole: a kernel never uses one, and they reach the same calls under other
numbers.
"""

import ctypes
import os
import platform
import struct
import sys

PR_SET_SECCOMP = 22
SECCOMP_MODE_FILTER = 2
RET_ALLOW = 0x7FFF0000
RET_ERRNO = 0x00050000
EPERM, ENOSYS, EPROTONOSUPPORT, EOPNOTSUPP, EAFNOSUPPORT = 1, 38, 93, 95, 97
LD_W_ABS = 0x20  # BPF_LD | BPF_W | BPF_ABS
JEQ_K = 0x15  # BPF_JMP | BPF_JEQ | BPF_K
JGE_K = 0x35  # BPF_JMP | BPF_JGE | BPF_K
JSET_K = 0x45  # BPF_JMP | BPF_JSET | BPF_K
AND_K = 0x54  # BPF_ALU | BPF_AND | BPF_K
RET_K = 0x06  # BPF_RET | BPF_K
X32_BIT = 0x40000000
CLONE_NEWUSER = 0x10000000
AF_UNIX, AF_INET, AF_INET6, AF_NETLINK = 1, 2, 10, 16
SOCK_STREAM, SOCK_TYPE_MASK, IPPROTO_TCP = 1, 0xF, 6
# struct seccomp_data: int nr; __u32 arch; __u64 instruction_pointer; __u64 args[6]
# (the low half of an argument on a little-endian machine: args[0] the flags of unshare and
# clone, socket's family, args[1] its type, args[2] its protocol)
NR, ARCH, ARG0, ARG1, ARG2 = 0, 4, 16, 24, 32
NAMES = ("add_key", "request_key", "keyctl", "clone", "unshare", "socket", "io_setup")
NAMES += ("perf_event_open",)
X86_64 = dict(zip(NAMES, (248, 249, 250, 56, 272, 41, 206, 298), strict=True))
AARCH64 = dict(zip(NAMES, (217, 218, 219, 220, 97, 198, 0, 241), strict=True))
# architecture: (AUDIT_ARCH_*, {name: system call number}, whether it has the x32 ABI)
ARCHES = {"x86_64": (0xC000003E, X86_64, True), "aarch64": (0xC00000B7, AARCH64, False)}
CLONE3, IO_URING_SETUP = 435, 425  # the same on every architecture
REFUSED = ("add_key", "request_key", "keyctl")
# refused as if this kernel had not the call (as are clone3 and io_uring_setup)
ABSENT = ("io_setup", "perf_event_open")
FLAGGED = ("clone", "unshare")  # refused with CLONE_NEWUSER in their flags


def program(machine: str) -> list[tuple[int, int, int, int]] | None:
    """The filter for ``machine`` (``platform.machine()``), as (code, jt, jf, k) tuples, or
    None for an architecture it does not know."""
    if machine not in ARCHES:
        return None
    arch, numbers, x32 = ARCHES[machine]
    # (code, where to go if true, where if false, k): a jump names a label, None is the next
    # instruction; the labels are resolved to the relative offsets BPF wants at the end.
    code: list[tuple[int, str | None, str | None, int]] = [
        (LD_W_ABS, None, None, ARCH),
        (JEQ_K, None, "refuse", arch),  # another ABI (i386 through int 0x80): refused whole
        (LD_W_ABS, None, None, NR),
    ]
    if x32:
        code.append((JGE_K, "refuse", None, X32_BIT))
    code += [(JEQ_K, "refuse", None, numbers[name]) for name in REFUSED]
    code += [(JEQ_K, "absent", None, number) for number in (CLONE3, IO_URING_SETUP)]
    code += [(JEQ_K, "absent", None, numbers[name]) for name in ABSENT]
    code += [(JEQ_K, "flags", None, numbers[name]) for name in FLAGGED]
    code.append((JEQ_K, "family", "allow", numbers["socket"]))
    labels = {"family": len(code)}
    code += [(LD_W_ABS, None, None, ARG0), (JEQ_K, "allow", None, AF_UNIX)]
    code += [(JEQ_K, "inet", None, AF_INET), (JEQ_K, "inet", None, AF_INET6)]
    code.append((JEQ_K, None, "family_refused", AF_NETLINK))
    code.append((RET_K, None, None, RET_ERRNO | EOPNOTSUPP))
    labels["family_refused"] = len(code)
    code.append((RET_K, None, None, RET_ERRNO | EAFNOSUPPORT))
    labels["inet"] = len(code)  # TCP: a stream of the default protocol or of TCP's
    code += [(LD_W_ABS, None, None, ARG1), (AND_K, None, None, SOCK_TYPE_MASK)]
    code += [(JEQ_K, None, "protocol", SOCK_STREAM), (LD_W_ABS, None, None, ARG2)]
    code += [(JEQ_K, "allow", None, 0), (JEQ_K, "allow", None, IPPROTO_TCP)]
    labels["protocol"] = len(code)
    code.append((RET_K, None, None, RET_ERRNO | EPROTONOSUPPORT))
    labels["flags"] = len(code)
    code += [(LD_W_ABS, None, None, ARG0), (JSET_K, "refuse", "allow", CLONE_NEWUSER)]
    for label, value in (
        ("allow", RET_ALLOW),
        ("refuse", RET_ERRNO | EPERM),
        ("absent", RET_ERRNO | ENOSYS),
    ):
        labels[label] = len(code)
        code.append((RET_K, None, None, value))

    def offset(at: int, label: str | None) -> int:
        return 0 if label is None else labels[label] - at - 1

    return [(op, offset(at, jt), offset(at, jf), k) for at, (op, jt, jf, k) in enumerate(code)]


def install() -> bool:
    """Install the filter in this process (after ``no_new_privs``; inherited by every child
    and kept across ``exec``). False: this architecture is not known, nothing was filtered."""
    code = program(platform.machine())
    if code is None or sys.byteorder != "little":
        return False
    raw = b"".join(struct.pack("HBBI", *instruction) for instruction in code)
    buffer = ctypes.create_string_buffer(raw, len(raw))

    class SockFprog(ctypes.Structure):
        _fields_ = [("len", ctypes.c_ushort), ("filter", ctypes.c_void_p)]

    fprog = SockFprog(len(code), ctypes.addressof(buffer))
    libc = ctypes.CDLL(None, use_errno=True)
    address = ctypes.addressof(fprog)
    if libc.prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, ctypes.c_ulong(address), 0, 0) != 0:
        error = ctypes.get_errno()
        raise OSError(error, "seccomp filter: " + os.strerror(error))
    return True
