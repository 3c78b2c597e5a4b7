"""`python -m distill_runtime.corpus [--task T] [--columns JSON] [--format F] FILE...`: the records and skipped rows
records.py reads, one JSON line each ({"id", "text", "group", "title"} or {"skip": {"file", "row", "reason"}}), then
{"error": message} if the read failed. The probe tests/lib/corpus/python-parity.test.ts compares with the TS reader."""

from __future__ import annotations

import argparse
import json
import sys

from ..errors import JobError
from ..task import load_task
from .records import CorpusRecord, read_corpus


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m distill_runtime.corpus")
    parser.add_argument("files", nargs="+")
    parser.add_argument("--task", default="recipes")
    parser.add_argument("--columns", default="{}", help='a column map as JSON, e.g. {"group": "book"}')
    parser.add_argument("--format", default=None)
    args = parser.parse_args(argv)
    out = sys.stdout
    try:
        for block in read_corpus(
            args.files, load_task(args.task), columns=json.loads(args.columns), format=args.format
        ):
            for item in block:
                if isinstance(item, CorpusRecord):
                    line = {"id": item.id, "text": item.text, "group": item.group, "title": item.title}
                else:
                    line = {"skip": {"file": item.file, "row": item.row, "reason": item.reason}}
                out.write(json.dumps(line, ensure_ascii=False) + "\n")
    except JobError as e:
        out.write(json.dumps({"error": str(e)}, ensure_ascii=False) + "\n")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
