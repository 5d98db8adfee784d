"""The default seccomp profile: an allow-list of system calls, with the reason for each gap.

Containers run untrusted code (an image's entrypoint, a Dockerfile's ``RUN``) as root of
their own namespaces.  Capabilities and namespaces already fence most of the kernel off,
but several kernel interfaces are reachable without any capability, and some of them
(user namespaces above all) hand a process new capabilities of its own.  The profile
below closes them: every system call a program needs to compute, do file and network
I/O, manage its threads and signals is allowed; everything else fails with ``EPERM``.

The profile is data: :data:`ALLOWED` and :data:`BLOCKED` are groups of names, each with
the reason it is there, and :func:`profile` turns them into the OCI ``linux.seccomp``
object for the host's architecture.  Every system call of the kernel headers is named in
exactly one of them or in :data:`CONDITIONAL` (a test checks it), so a new kernel's calls
are a deliberate choice, not an accident.  Names that a 64-bit kernel does not have (the
32-bit variants) are listed too: the runtime ignores names its libseccomp does not know,
and on a 64-bit host the compat (32-bit) system call table is filtered by the same rules.

``--security-opt seccomp=unconfined`` on ``run`` turns the filter off; build steps are
always confined.
"""

from __future__ import annotations

import errno
import platform
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class SyscallGroup:
    """System calls that share one reason for being allowed or refused."""

    why: str
    names: tuple[str, ...]


def _names(text: str) -> tuple[str, ...]:
    return tuple(text.split())


ALLOWED: tuple[SyscallGroup, ...] = (
    SyscallGroup(
        "files: open, read, write, stat, link, rename, xattrs and directory handling; "
        "permission checks stay with the kernel and the container's capabilities",
        _names("""
            read write open openat openat2 close close_range creat lseek _llseek
            pread64 pwrite64 readv writev preadv pwritev preadv2 pwritev2
            stat fstat lstat newfstatat statx stat64 fstat64 lstat64 fstatat64
            oldstat oldfstat oldlstat statfs fstatfs statfs64 fstatfs64
            access faccessat faccessat2 readlink readlinkat getcwd chdir fchdir
            getdents getdents64 readdir mkdir mkdirat rmdir rename renameat renameat2
            link linkat unlink unlinkat symlink symlinkat mknod mknodat
            chmod fchmod fchmodat fchmodat2 chown fchown lchown fchownat chown32 fchown32
            lchown32 umask utime utimes utimensat utimensat_time64 futimesat
            truncate ftruncate truncate64 ftruncate64 fallocate
            fsync fdatasync sync syncfs sync_file_range sync_file_range2 arm_sync_file_range
            flock fcntl fcntl64 dup dup2 dup3 pipe pipe2
            sendfile sendfile64 splice tee vmsplice copy_file_range
            readahead fadvise64 fadvise64_64 arm_fadvise64_64
            setxattr lsetxattr fsetxattr getxattr lgetxattr fgetxattr
            listxattr llistxattr flistxattr removexattr lremovexattr fremovexattr
            setxattrat getxattrat listxattrat removexattrat file_getattr file_setattr
            inotify_init inotify_init1 inotify_add_watch inotify_rm_watch ioctl
        """),
    ),
    SyscallGroup(
        "memory: mappings, protection, locking and anonymous memory files",
        _names("""
            brk mmap mmap2 munmap mremap mprotect msync mincore madvise remap_file_pages
            mlock mlock2 munlock mlockall munlockall membarrier memfd_create
            pkey_alloc pkey_free pkey_mprotect map_shadow_stack mseal
        """),
    ),
    SyscallGroup(
        "processes and threads: starting programs, threads (clone without namespace "
        "flags, see CLONE_RULES), waiting, futexes, scheduling within the cgroup's limits",
        _names("""
            fork vfork execve execveat exit exit_group wait4 waitpid waitid
            set_tid_address set_robust_list get_robust_list futex futex_time64 futex_waitv
            futex_wake futex_wait futex_requeue rseq restart_syscall
            getpid gettid getppid getpgrp getpgid setpgid getsid setsid nice
            sched_yield sched_getaffinity sched_setaffinity sched_getparam sched_setparam
            sched_getscheduler sched_setscheduler sched_get_priority_max
            sched_get_priority_min sched_rr_get_interval sched_rr_get_interval_time64
            sched_getattr sched_setattr getpriority setpriority ioprio_get ioprio_set
            getrlimit setrlimit ugetrlimit prlimit64 getrusage times sysinfo getcpu uname
            olduname oldolduname arch_prctl prctl set_thread_area get_thread_area
            capget capset seccomp landlock_create_ruleset landlock_add_rule
            landlock_restrict_self lsm_get_self_attr lsm_set_self_attr lsm_list_modules
            pidfd_open pidfd_send_signal pidfd_getfd process_mrelease
            ptrace process_vm_readv process_vm_writev cacheflush set_tls get_tls
            riscv_flush_icache riscv_hwprobe breakpoint usr26 usr32 s390_runtime_instr
            s390_guarded_storage uretprobe
        """),
    ),
    SyscallGroup(
        "user and group ids: changing them is what CAP_SETUID/CAP_SETGID allow",
        _names("""
            getuid geteuid getgid getegid getgroups getresuid getresgid
            setuid setgid setreuid setregid setresuid setresgid setgroups setfsuid setfsgid
            getuid32 geteuid32 getgid32 getegid32 getgroups32 getresuid32 getresgid32
            setuid32 setgid32 setreuid32 setregid32 setresuid32 setresgid32 setgroups32
            setfsuid32 setfsgid32
        """),
    ),
    SyscallGroup(
        "signals: handling, masking and sending them, within the PID namespace",
        _names("""
            rt_sigaction rt_sigprocmask rt_sigreturn rt_sigpending rt_sigtimedwait
            rt_sigtimedwait_time64 rt_sigqueueinfo rt_tgsigqueueinfo rt_sigsuspend
            sigaction sigprocmask sigreturn sigpending sigsuspend signal sgetmask ssetmask
            sigaltstack signalfd signalfd4 kill tkill tgkill pause alarm
        """),
    ),
    SyscallGroup(
        "clocks and timers (reading them; setting the clock is blocked)",
        _names("""
            nanosleep clock_nanosleep clock_nanosleep_time64 clock_gettime clock_gettime64
            clock_getres clock_getres_time64 gettimeofday time
            getitimer setitimer timer_create timer_settime timer_settime64 timer_gettime
            timer_gettime64 timer_getoverrun timer_delete
            timerfd_create timerfd_settime timerfd_settime64 timerfd_gettime
            timerfd_gettime64
        """),
    ),
    SyscallGroup(
        "waiting for events: poll, select, epoll, eventfd and POSIX asynchronous I/O",
        _names("""
            poll ppoll ppoll_time64 select _newselect pselect6 pselect6_time64
            epoll_create epoll_create1 epoll_ctl epoll_wait epoll_pwait epoll_pwait2
            eventfd eventfd2 io_setup io_destroy io_getevents io_pgetevents
            io_pgetevents_time64 io_submit io_cancel
        """),
    ),
    SyscallGroup(
        "sockets (raw and packet sockets also need CAP_NET_RAW, which is not granted)",
        _names("""
            socket socketpair socketcall connect accept accept4 bind listen
            getsockname getpeername sendto recvfrom send recv sendmsg recvmsg
            sendmmsg recvmmsg recvmmsg_time64 shutdown setsockopt getsockopt
        """),
    ),
    SyscallGroup(
        "System V and POSIX IPC, private to the container's IPC namespace",
        _names("""
            ipc shmget shmat shmctl shmdt semget semop semctl semtimedop semtimedop_time64
            msgget msgsnd msgrcv msgctl mq_open mq_unlink mq_timedsend mq_timedsend_time64
            mq_timedreceive mq_timedreceive_time64 mq_notify mq_getsetattr
        """),
    ),
    SyscallGroup(
        "names of the container's own UTS namespace, chroot (CAP_SYS_CHROOT is granted), "
        "randomness",
        _names("sethostname setdomainname chroot getrandom"),
    ),
)

BLOCKED: tuple[SyscallGroup, ...] = (
    SyscallGroup(
        "joining another namespace is leaving the sandbox; creating one is refused by "
        "the rules for clone and unshare (see CONDITIONAL)",
        _names("setns"),
    ),
    SyscallGroup(
        "mounting: file systems are the container runtime's business",
        _names("""
            mount umount umount2 oldumount pivot_root fsopen fsconfig fsmount fspick
            move_mount open_tree open_tree_attr mount_setattr
        """),
    ),
    SyscallGroup(
        "the kernel itself: modules, kexec, reboot, BPF programs, performance counters, "
        "the kernel log and other host-wide control",
        _names("""
            init_module finit_module delete_module create_module get_kernel_syms
            query_module kexec_load kexec_file_load reboot bpf perf_event_open
            lookup_dcookie syslog _sysctl sysfs uselib ustat nfsservctl quotactl quotactl_fd
            acct swapon swapoff iopl ioperm vm86 vm86old modify_ldt vhangup bdflush
            fanotify_init fanotify_mark
        """),
    ),
    SyscallGroup(
        "the clock is shared with the host: setting or slewing it is not for a container",
        _names("""
            settimeofday stime clock_settime clock_settime64 clock_adjtime
            clock_adjtime64 adjtimex
        """),
    ),
    SyscallGroup(
        "kernel keyrings are not namespaced: keys of the host and of other containers",
        _names("add_key request_key keyctl"),
    ),
    SyscallGroup(
        "file handles open files by inode number, past mount and chroot boundaries",
        _names("open_by_handle_at name_to_handle_at"),
    ),
    SyscallGroup(
        "NUMA memory placement is the host's (docker asks CAP_SYS_NICE for these)",
        _names(
            "mbind set_mempolicy get_mempolicy migrate_pages move_pages set_mempolicy_home_node"
        ),
    ),
    SyscallGroup(
        "interfaces with a record of kernel exploits and no use in a build or a service: "
        "userfaultfd (stalls the kernel at will), io_uring (a second system call surface "
        "that bypasses this filter), kcmp, process_madvise, memfd_secret, cachestat",
        _names("""
            userfaultfd io_uring_setup io_uring_enter io_uring_register kcmp process_madvise
            memfd_secret cachestat
        """),
    ),
    SyscallGroup(
        "reserved numbers the kernel does not implement",
        _names("""
            afs_syscall tuxcall security vserver getpmsg putpmsg epoll_ctl_old
            epoll_wait_old break ftime gtty lock mpx prof profil stty ulimit
            idle
        """),
    ),
)

#: Allowed with their arguments checked (see :func:`profile`).
CONDITIONAL = SyscallGroup(
    "new namespaces: a user namespace gives a process every capability inside it, and "
    "with them mounts and the kernel code behind them.  clone and unshare are allowed "
    "without namespace flags; clone3 fails with ENOSYS (its flags sit in memory a filter "
    "cannot read), so the C library and Go fall back to clone.  personality is allowed "
    "for the values that do not weaken address randomisation or NX",
    _names("clone unshare clone3 personality"),
)

#: Namespace flags of clone/unshare: CLONE_NEWTIME, NEWNS, NEWCGROUP, NEWUTS, NEWIPC,
#: NEWUSER, NEWPID, NEWNET.
NAMESPACE_FLAGS = 0x00000080 | 0x00020000 | 0x02000000 | 0x04000000 | 0x08000000
NAMESPACE_FLAGS |= 0x10000000 | 0x20000000 | 0x40000000

#: ``personality`` values that only change what ``uname`` reports or query the current
#: one; ADDR_NO_RANDOMIZE and READ_IMPLIES_EXEC (which weaken ASLR and NX) are refused.
PERSONALITIES = (0x0, 0x0008, 0x20000, 0x20008, 0xFFFFFFFF)

#: The seccomp architectures each host machine runs natively (with its compat ABIs).
_ARCHES: dict[str, tuple[str, ...]] = {
    "x86_64": ("SCMP_ARCH_X86_64", "SCMP_ARCH_X86", "SCMP_ARCH_X32"),
    "aarch64": ("SCMP_ARCH_AARCH64", "SCMP_ARCH_ARM"),
    "armv7l": ("SCMP_ARCH_ARM",),
    "i686": ("SCMP_ARCH_X86",),
    "ppc64le": ("SCMP_ARCH_PPC64LE",),
    "s390x": ("SCMP_ARCH_S390X", "SCMP_ARCH_S390"),
    "riscv64": ("SCMP_ARCH_RISCV64",),
}


def allowed_names() -> set[str]:
    return {name for group in ALLOWED for name in group.names}


def blocked_names() -> set[str]:
    return {name for group in BLOCKED for name in group.names}


def _flags_rule(name: str, flags_index: int) -> dict[str, Any]:
    """``name`` allowed when none of the namespace flags is set in its flags argument."""
    return {
        "names": [name],
        "action": "SCMP_ACT_ALLOW",
        "args": [
            {"index": flags_index, "value": NAMESPACE_FLAGS, "valueTwo": 0,
             "op": "SCMP_CMP_MASKED_EQ"},
        ],
    }  # fmt: skip


def profile(machine: str | None = None) -> dict[str, Any]:
    """The OCI ``linux.seccomp`` object for ``machine`` (default: this host's)."""
    machine = machine or platform.machine()
    # s390's clone takes the stack first and the flags second
    clone_flags = 1 if machine.startswith("s390") else 0
    syscalls: list[dict[str, Any]] = [
        {"names": sorted(allowed_names()), "action": "SCMP_ACT_ALLOW"},
        _flags_rule("clone", clone_flags),
        _flags_rule("unshare", 0),
        {"names": ["clone3"], "action": "SCMP_ACT_ERRNO", "errnoRet": errno.ENOSYS},
    ]
    syscalls += [
        {"names": ["personality"], "action": "SCMP_ACT_ALLOW",
         "args": [{"index": 0, "value": value, "valueTwo": 0, "op": "SCMP_CMP_EQ"}]}
        for value in PERSONALITIES
    ]  # fmt: skip
    return {
        "defaultAction": "SCMP_ACT_ERRNO",
        "defaultErrnoRet": errno.EPERM,
        "architectures": list(_ARCHES.get(machine, ())),
        "syscalls": syscalls,
    }
