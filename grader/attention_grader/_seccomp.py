"""A seccomp filter for a grading kernel (standard library only: ``_launch.py`` and
``_zygote.py``, which import nothing of the grader's package, load it from this file).

The kernel keyrings belong to a uid, not to a sandbox: a key a kernel adds to its user keyring
(``add_key``) outlives the sandbox and can be read by the next kernel that gets the same uid (a
channel from one student to another), and a kernel can fill that uid's key quota. A kernel
has no use for keyrings, so ``add_key``, ``request_key`` and ``keyctl`` fail with ``EPERM``.
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

PR_SET_SECCOMP = 22
SECCOMP_MODE_FILTER = 2
RET_ALLOW = 0x7FFF0000
RET_ERRNO = 0x00050000
EPERM = 1
LD_W_ABS = 0x20  # BPF_LD | BPF_W | BPF_ABS
JEQ_K = 0x15  # BPF_JMP | BPF_JEQ | BPF_K
JGE_K = 0x35  # BPF_JMP | BPF_JGE | BPF_K
RET_K = 0x06  # BPF_RET | BPF_K
X32_BIT = 0x40000000
# struct seccomp_data: int nr; __u32 arch; ...
NR, ARCH = 0, 4
# architecture: (AUDIT_ARCH_*, {name: system call number}, whether it has the x32 ABI)
ARCHES = {
    "x86_64": (0xC000003E, {"add_key": 248, "request_key": 249, "keyctl": 250}, True),
    "aarch64": (0xC00000B7, {"add_key": 217, "request_key": 218, "keyctl": 219}, False),
}
REFUSED = ("add_key", "request_key", "keyctl")


def program(machine: str) -> list[tuple[int, int, int, int]] | None:
    """The filter for ``machine`` (``platform.machine()``), as (code, jt, jf, k) tuples, or
    None for an architecture it does not know."""
    if machine not in ARCHES:
        return None
    arch, numbers, x32 = ARCHES[machine]
    checks = [(JGE_K, X32_BIT)] if x32 else []
    checks += [(JEQ_K, numbers[name]) for name in REFUSED]
    # 0: load arch; 1: the machine's own ABI goes on, another one (i386 through int 0x80)
    # is refused; 3: load nr; then one jump per check to the refusal; then allow; then refuse.
    code = [(LD_W_ABS, 0, 0, ARCH)]
    code.append((JEQ_K, 1, 0, arch))
    code.append((RET_K, 0, 0, RET_ERRNO | EPERM))
    code.append((LD_W_ABS, 0, 0, NR))
    for index, (op, value) in enumerate(checks):
        to_refuse = len(checks) - index  # past the remaining checks and the allow
        code.append((op, to_refuse, 0, value))
    code.append((RET_K, 0, 0, RET_ALLOW))
    code.append((RET_K, 0, 0, RET_ERRNO | EPERM))
    return code


def install() -> bool:
    """Install the filter in this process (after ``no_new_privs``; inherited by every child
    and kept across ``exec``). False: this architecture is not known, nothing was filtered."""
    code = program(platform.machine())
    if code is None:
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
