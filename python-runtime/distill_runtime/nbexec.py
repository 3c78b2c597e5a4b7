"""Execute a notebook headless with nbclient and export it to a self-contained HTML file.

`python -m distill_runtime.nbexec --in IN.ipynb --out OUT.ipynb --html OUT.html --cwd DIR [--timeout S] [--plotly-js F]`

The TypeScript runner (lib/src/notebook/run.ts) has already injected the parameters; this module runs the cells one by
one, stops at the first failing cell (tslab reports errors as stderr text with status "error", and drops requests for
~200 ms after one, so the first error is fatal), and prints one JSON summary line on stdout:
{"ok", "cells": [{"index", "seconds"}], "error": {"index", "source", "text"} | null, "kernel_seconds"}.

Figures (lib/src/report/plots.ts) arrive as mime bundles: the figure JSON (application/vnd.plotly.v1+json) plus an
HTML fallback that draws it with the page's plotly.js; the kernel also shows plotly.js itself once, for live
JupyterLab sessions. With --plotly-js, that copy is dropped from the saved notebook (the .ipynb keeps only the figure
JSON, what Jupyter and nbviewer render) and the exported HTML inlines the given plotly.js exactly once.

Nothing outlives the runner: this process gets SIGTERM when the runner dies (lifeline.py), stops the kernel's process
group on that signal, and starts the kernel through lifeline.py, so the kernel also ends if this process is killed
outright; the kernel's jobs end with the kernel (lib/src/processes.ts).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import signal
import sys
import time
from pathlib import Path
from types import FrameType
from typing import Any
from urllib.parse import parse_qsl, quote, unquote, urlsplit

from .lifeline import EXIT_WITH_PARENT, exit_with_parent

# Environment variables whose values must never reach a file: API keys and tokens.
SECRET_NAME = re.compile(r"(KEY|TOKEN|SECRET|PASSWORD)", re.IGNORECASE)
PLOTLY_LIB_MARK = "/*distill:plotly-lib*/"
PLOTLY_MIME = "application/vnd.plotly.v1+json"
# nbconvert's lab template lets a long output line widen the page; these keep every output inside the window.
WIDTH_CSS = (
    ".jp-OutputArea-output{overflow-x:auto;max-width:100%}"
    ".jp-OutputArea-output pre{white-space:pre-wrap;overflow-wrap:anywhere}"
    ".jp-InputArea-editor{overflow-x:auto}"
    ".jp-RenderedMarkdown pre{overflow-x:auto}"
)
# Credentials in any URL (user:password@): the same pattern as lib/src/redact.ts. (Its rule for secret query values is
# applied here only to the values found in the environment: over a whole notebook, plotly's inlined JavaScript
# included, a pattern like "&key=..." could change code.)
URL_USERINFO = re.compile(r"\b([a-z][a-z0-9+.-]*://)[^\s/?#@\"'<>\\]+@", re.IGNORECASE)
SECRET_PARAMETER = re.compile(
    r"^(?:api[-_]?key|apikey|key|token|access[-_]?token|auth|sig|signature|password|passwd|pwd|secret|client[-_]?secret)$",
    re.IGNORECASE,
)


def url_secrets(value: str) -> set[str]:
    """The credentials in a URL-valued variable (OPENAI_BASE_URL=http://user:pass@host/v1?api-key=...): user:password,
    the password, secret query values, raw and decoded, so that they are redacted wherever they appear."""
    if "://" not in value:
        return set()
    try:
        url = urlsplit(value.strip())
    except ValueError:
        return set()
    found: set[str] = set()
    userinfo = url.netloc.rpartition("@")[0]
    if ":" in userinfo:
        found |= {userinfo, unquote(userinfo)}
    if url.password and len(unquote(url.password)) >= 8:
        found |= {url.password, unquote(url.password)}
    for name, secret in parse_qsl(url.query):
        if SECRET_PARAMETER.match(name) and len(secret) >= 8:
            found |= {secret, quote(secret, safe="")}
    return found


def secret_values() -> list[str]:
    named = {v for k, v in os.environ.items() if SECRET_NAME.search(k) and len(v) >= 8}
    in_urls = {s for v in os.environ.values() for s in url_secrets(v)}
    return sorted(named | in_urls, key=len, reverse=True)


def redact_urls(text: str) -> str:
    return URL_USERINFO.sub(r"\1[redacted]@", text) if "://" in text else text


def redact(obj: Any, secrets: list[str]) -> Any:
    if isinstance(obj, str):
        for s in secrets:
            obj = obj.replace(s, "[redacted]")
        return redact_urls(obj)
    if isinstance(obj, list):
        return [redact(x, secrets) for x in obj]
    if isinstance(obj, dict):
        return {k: redact(v, secrets) for k, v in obj.items()}
    return obj


def error_text(cell: Any) -> str:
    """tslab sends errors as stderr stream output (no ename/evalue); collect both kinds."""
    parts: list[str] = []
    for out in cell.get("outputs", []):
        if out.get("output_type") == "stream" and out.get("name") == "stderr":
            parts.append(out.get("text", ""))
        elif out.get("output_type") == "error":
            parts.append(f"{out.get('ename', '')}: {out.get('evalue', '')}\n" + "\n".join(out.get("traceback", [])))
    return "".join(parts).strip() or "(the kernel reported an error without text)"


def kernel_manager_class() -> type:
    """nbclient's kernel manager, starting the kernel through lifeline.py: the kernel (Node, which cannot ask for a
    parent-death signal itself) gets SIGTERM when this executor dies, however it dies."""
    from jupyter_client.manager import AsyncKernelManager

    class LifelineKernelManager(AsyncKernelManager):
        def format_kernel_cmd(self, extra_arguments: list[str] | None = None) -> list[str]:
            command = super().format_kernel_cmd(extra_arguments)
            return [sys.executable, "-m", "distill_runtime.lifeline", "--", *command]

    return LifelineKernelManager


def stop_kernel(client: Any, grace_s: float = 5.0) -> None:
    """SIGTERM to the kernel's process group (the kernel's own handlers then cancel its jobs), SIGKILL after grace_s."""
    provisioner = getattr(getattr(client, "km", None), "provisioner", None)
    process = getattr(provisioner, "process", None)
    pgid = getattr(provisioner, "pgid", None) or getattr(process, "pid", None)
    if not pgid:
        return
    try:
        os.killpg(pgid, signal.SIGTERM)
    except ProcessLookupError:
        return
    deadline = time.time() + grace_s
    while time.time() < deadline and process is not None and process.poll() is None:
        time.sleep(0.05)
    try:
        os.killpg(pgid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    try:
        client.km.cleanup_connection_file()
    except Exception:  # noqa: BLE001 - best effort: a leftover connection file is harmless
        pass


def stop_on_signals(client: Any) -> None:
    """The runner stopping us (SIGTERM; SIGHUP, SIGINT when sent by hand) stops the kernel first: no notebook keeps
    running after its runner is gone. Exit at once afterwards: the run is abandoned, nothing more to write."""

    def stop(signum: int, frame: FrameType | None) -> None:
        stop_kernel(client)
        os._exit(128 + signum)

    for signum in (signal.SIGTERM, signal.SIGHUP, signal.SIGINT):
        signal.signal(signum, stop)


def execute(nb: Any, cwd: str, timeout: int) -> dict[str, Any]:
    from nbclient import NotebookClient
    from nbclient.exceptions import CellExecutionError, CellTimeoutError, DeadKernelError

    client = NotebookClient(
        nb,
        kernel_name=nb.metadata.get("kernelspec", {}).get("name", "tslab"),
        kernel_manager_class=kernel_manager_class(),
        timeout=timeout,
        resources={"metadata": {"path": cwd}},
        allow_errors=False,
        record_timing=True,
    )
    stop_on_signals(client)
    # The kernel and what it starts watch this process: lifeline.py (kernel) and lib/src/processes.ts (its jobs).
    os.environ[EXIT_WITH_PARENT] = str(os.getpid())
    summary: dict[str, Any] = {"ok": True, "cells": [], "error": None}
    started = time.time()
    with client.setup_kernel():
        summary["kernel_seconds"] = round(time.time() - started, 3)
        for index, cell in enumerate(nb.cells):
            if cell.cell_type != "code":
                continue
            t0 = time.time()
            try:
                client.execute_cell(cell, index)
            except (CellExecutionError, CellTimeoutError, DeadKernelError) as e:
                text = error_text(cell)
                if isinstance(e, CellTimeoutError):
                    text = f"the cell ran longer than {timeout} s (raise --timeout)\n{text}"
                elif isinstance(e, DeadKernelError):
                    text = f"the kernel died: {e}\n{text}"
                summary["ok"] = False
                summary["error"] = {"index": index, "source": cell.source, "text": text}
                summary["cells"].append({"index": index, "seconds": round(time.time() - t0, 3)})
                break
            summary["cells"].append({"index": index, "seconds": round(time.time() - t0, 3)})
    return summary


def is_plotly_lib(output: Any) -> bool:
    html = output.get("data", {}).get("text/html", "") if output.get("output_type") == "display_data" else ""
    text = "".join(html) if isinstance(html, list) else html
    return text.startswith("<script>" + PLOTLY_LIB_MARK)


def drop_plotly_lib(nb: Any) -> None:
    """Remove the kernel's plotly.js output(s): the saved notebook keeps the figures' JSON, not the library."""
    for cell in nb.cells:
        if cell.cell_type == "code":
            cell.outputs = [o for o in cell.outputs if not is_plotly_lib(o)]


def has_figures(nb: Any) -> bool:
    return any(PLOTLY_MIME in o.get("data", {}) for c in nb.cells if c.cell_type == "code" for o in c.outputs)


def plotly_script(plotly_js: Path) -> str:
    """plotly.js inline, then the figures queued before it loaded (their fallback HTML queues a draw)."""
    src = plotly_js.read_text(encoding="utf-8")
    src = re.sub(r"</script", r"<\\/script", src, flags=re.IGNORECASE)
    flush = ";(window.__distillPending||[]).splice(0).forEach(function(f){f()});"
    return f"<script>{PLOTLY_LIB_MARK}\n{src}\n{flush}</script>"


def export_html(nb: Any, plotly_js: Path | None = None) -> str:
    from nbconvert import HTMLExporter

    exporter = HTMLExporter(template_name="lab")
    body, _ = exporter.from_notebook_node(nb)
    # Offline: drop scripts and styles fetched from the network (MathJax, require.js CDNs).
    body = re.sub(r"<script[^>]*\bsrc=\"https?://[^\"]*\"[^>]*>\s*</script>", "", body)
    body = re.sub(r"<link[^>]*\bhref=\"https?://[^\"]*\"[^>]*>", "", body)
    # Wide outputs (code, tables, JSON) scroll inside the page instead of widening it.
    body = body.replace("</head>", f"<style>{WIDTH_CSS}</style>\n</head>", 1)
    if plotly_js is not None and has_figures(nb):
        # One copy of plotly.js for the whole page, after the figures (they wait for it).
        index = body.rfind("</body>")
        script = plotly_script(plotly_js)
        body = body[:index] + script + "\n" + body[index:] if index >= 0 else body + script
    return body


def main(argv: list[str] | None = None) -> int:
    import nbformat

    parser = argparse.ArgumentParser(prog="python -m distill_runtime.nbexec")
    parser.add_argument("--in", dest="inp", required=True)
    parser.add_argument("--out", required=True)
    parser.add_argument("--html", required=True)
    parser.add_argument("--cwd", required=True)
    parser.add_argument("--timeout", type=int, default=3600)
    parser.add_argument("--plotly-js", type=Path, default=None, help="plotly.js to inline once into the HTML")
    args = parser.parse_args(argv)
    # The runner (lib/src/notebook/run.ts) names itself in DISTILL_EXIT_WITH_PARENT: if it dies, so do we (and our
    # signal handler takes the kernel along).
    if not exit_with_parent():
        return 143

    nb = nbformat.read(args.inp, as_version=4)
    summary = execute(nb, args.cwd, args.timeout)
    if args.plotly_js is not None:
        drop_plotly_lib(nb)  # before redaction: 1.4 MB less to scan, and the page gets its own copy
    secrets = secret_values()
    nb = nbformat.from_dict(redact(nb, secrets))
    # Timing metadata differs run to run; the runner keeps seconds per cell in run.json instead.
    for cell in nb.cells:
        cell.metadata.pop("execution", None)
    Path(args.out).write_text(nbformat.writes(nb) + "\n", encoding="utf-8")
    Path(args.html).write_text(export_html(nb, args.plotly_js), encoding="utf-8")
    print(json.dumps(redact(summary, secrets)))
    sys.stdout.flush()
    return 0 if summary["ok"] else 1


if __name__ == "__main__":
    sys.exit(main())
