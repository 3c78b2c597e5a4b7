"""Dying with the parent: no process of a run outlives the one that started it.

The TypeScript side starts every Python process with DISTILL_EXIT_WITH_PARENT set to its own pid (lib/src/processes.ts
explains the three layers). `exit_with_parent()` then asks Linux for SIGTERM when that parent dies
(PR_SET_PDEATHSIG): a killed runner stops its notebook executor, a killed kernel its training job, at once rather
than at their next write to a closed pipe, minutes later.

`python -m distill_runtime.lifeline -- CMD [ARGS...]` does the same for a program that cannot ask itself, then
becomes CMD (exec keeps the pid and the parent-death signal): the notebook executor (nbexec.py) starts the tslab
kernel through it, so a kernel whose executor was killed ends too.
"""

from __future__ import annotations

import os
import signal
import sys

EXIT_WITH_PARENT = "DISTILL_EXIT_WITH_PARENT"


def set_parent_death_signal(signum: int = signal.SIGTERM) -> bool:
    """Ask Linux to send `signum` when our parent dies; False where there is no such thing (not Linux)."""
    if not sys.platform.startswith("linux"):
        return False
    import ctypes

    pr_set_pdeathsig = 1
    return ctypes.CDLL(None, use_errno=True).prctl(pr_set_pdeathsig, signum) == 0


def exit_with_parent(signum: int = signal.SIGTERM) -> bool:
    """When DISTILL_EXIT_WITH_PARENT names our parent's pid, get `signum` when it dies. False if it is already gone
    (it died between starting us and now: the signal would never come)."""
    parent = os.environ.get(EXIT_WITH_PARENT)
    if not parent or not parent.isdigit():
        return True
    set_parent_death_signal(signum)
    return os.getppid() == int(parent)


def main(argv: list[str]) -> int:
    if not argv or argv[0] != "--" or len(argv) < 2:
        print("usage: python -m distill_runtime.lifeline -- CMD [ARGS...]", file=sys.stderr)
        return 2
    if not exit_with_parent():
        return 143
    os.execvp(argv[1], argv[1:])


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
