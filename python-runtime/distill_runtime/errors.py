"""Errors a job raises on purpose: they become an `error` event with a kind and a hint for the user."""

from __future__ import annotations


class JobError(Exception):
    def __init__(self, kind: str, message: str, hint: str | None = None) -> None:
        super().__init__(message)
        self.kind = kind
        self.hint = hint
