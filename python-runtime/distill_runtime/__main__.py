"""`python -m distill_runtime <job> --config <file.json>`: one entry per job, all speaking events.py's stream."""

from __future__ import annotations

import argparse
import importlib
import signal
import sys
import traceback
from types import FrameType

from .errors import JobError
from .events import emit
from .lifeline import exit_with_parent

# Job names as the TS side spells them ("label-corpus"), each in jobs/<name with _>.py.
JOB_NAMES = ("train", "merge", "infer", "export", "tokens", "label-corpus", "encode")
JOBS = {name: f"jobs.{name.replace('-', '_')}" for name in JOB_NAMES}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m distill_runtime")
    parser.add_argument("job", choices=sorted(JOBS))
    parser.add_argument("--config", required=True, help="path to the job's JSON config")
    args = parser.parse_args(argv)
    # SIGTERM (the TS side's cancel) takes the same path as Ctrl-C: a `cancelled` error event and exit 130, instead of
    # dying silently. Checkpoints are written atomically, so an interrupt never leaves a half-written one.
    signal.signal(signal.SIGTERM, _raise_keyboard_interrupt)
    # A job started by the lib dies with the process that started it (a killed notebook kernel leaves no training
    # job running): lifeline.py.
    if not exit_with_parent():
        return 130
    try:
        module = importlib.import_module(f".{JOBS[args.job]}", __package__)
        module.run_from_file(args.config)
    except JobError as e:
        emit("error", kind=e.kind, message=str(e), hint=e.hint)
        return 1
    except KeyboardInterrupt:
        emit("error", kind="cancelled", message="cancelled", hint="rerun to resume from the last checkpoint")
        return 130
    except Exception as e:  # noqa: BLE001 - the last line of defence: turn any crash into an error event
        traceback.print_exc(file=sys.stderr)
        kind, hint = classify_exception(e)
        emit("error", kind=kind, message=f"{type(e).__name__}: {e}", hint=hint)
        return 1
    return 0


def _raise_keyboard_interrupt(signum: int, frame: FrameType | None) -> None:
    raise KeyboardInterrupt


def classify_exception(e: BaseException) -> tuple[str, str | None]:
    text = f"{type(e).__name__}: {e}"
    if "out of memory" in text.lower() or type(e).__name__ == "OutOfMemoryError":
        return "oom", (
            "lower micro_batch_size, enable gradient_checkpointing, or use QLoRA (load_in_4bit) to fit in memory"
        )
    if isinstance(e, ModuleNotFoundError):
        name = e.name or "the missing package"
        return "missing_package", f"install it into .venv: .venv/bin/pip install {name}"
    return "runtime", None


if __name__ == "__main__":
    sys.exit(main())
