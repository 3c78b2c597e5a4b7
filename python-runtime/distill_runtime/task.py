"""The task schema (data/tasks/<name>.json), read the same way as lib/src/task.ts, and the student's text format.

Byte-for-byte rules shared with TypeScript (keep them trivially simple):
- prompt = prompt_template with every "{text}" replaced by the record text (TS: split/join, no regex, no escapes).
- target = compact JSON of the labels with keys in the task's field order (TS: JSON.stringify of an object built in
  field order; json.dumps with separators (",", ":") and ensure_ascii=False writes the same bytes).
- token ids: encode_prompt() is the one way prompts become ids, at training and at inference; the target is
  tokenized on its own and appended (encode_target), so no token merges across the prompt/target boundary.
"""

from __future__ import annotations

import json
import math
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from .errors import JobError
from .keyword_rules import KeywordRules, apply_keyword_rules, keyword_rules_problems

FieldType = Literal["boolean", "enum", "integer", "string"]
Labels = dict[str, Any]


def project_root() -> Path:
    """The repository root (same rule as lib/src/paths.ts: DISTILL_ROOT overrides)."""
    env = os.environ.get("DISTILL_ROOT")
    return Path(env) if env else Path(__file__).resolve().parents[2]


def resolve_path(p: str | os.PathLike[str]) -> Path:
    """A user path: absolute stays, relative is taken from the project root (as TS paths.resolve does)."""
    path = Path(p)
    return path if path.is_absolute() else project_root() / path


class _TaskPart(BaseModel):
    # Strings are trimmed as lib/src/task.ts trims them (its zod schema does), so that a prompt_template with a
    # trailing newline renders the same prompt on both sides (tests/lib/task-parity.test.ts).
    model_config = ConfigDict(extra="ignore", frozen=True, populate_by_name=True, str_strip_whitespace=True)


class FieldSpec(_TaskPart):
    name: str = Field(min_length=1)
    type: FieldType
    description: str = Field(min_length=1)
    values: list[str] | None = None
    minimum: float | None = None
    maximum: float | None = None
    max_length: int | None = Field(default=None, alias="maxLength")

    @model_validator(mode="after")
    def _enum_has_values(self) -> FieldSpec:
        if self.type == "enum" and not self.values:
            raise ValueError(f'field {self.name!r} is an enum without values: add a non-empty "values" list')
        return self


class TeacherExample(_TaskPart):
    text: str
    labels: dict[str, Any]


class TeacherGuide(_TaskPart):
    about: str = ""
    system_prompt: str
    examples: list[TeacherExample]


class TeacherSpec(_TaskPart):
    system_prompt: str
    function_name: str
    function_description: str
    # Few-shot examples for the local teacher (lib/src/label/local.ts); the student never sees them.
    examples: list[TeacherExample] = []
    # The local teacher's guide-based prompt (lib/src/label/local-models.ts picks it per model); read for completeness:
    # nothing in Python uses teacher prompts.
    guide: TeacherGuide | None = None


class StudentSpec(_TaskPart):
    prompt_template: str
    max_input_tokens: int = 768


class Task(_TaskPart):
    name: str
    description: str = ""
    record_template: str = ""
    fields: list[FieldSpec] = Field(min_length=1)
    teacher: TeacherSpec
    student: StudentSpec
    # A baseline that needs no model (keyword_rules.py); validated here against the fields, as lib/src/task.ts does.
    keyword_rules: KeywordRules | None = None
    file: str = ""

    @model_validator(mode="after")
    def _unique_fields(self) -> Task:
        seen: set[str] = set()
        for spec in self.fields:
            if spec.name in seen:
                raise ValueError(f"duplicate field name {spec.name!r}")
            seen.add(spec.name)
        if "{text}" not in self.student.prompt_template:
            raise ValueError('student.prompt_template must contain "{text}"')
        if self.keyword_rules is not None:
            specs = {f.name: f for f in self.fields}

            def invalid_value(name: str, value: Any) -> str | None:
                return _check_field(specs[name], value)[1]

            problems = keyword_rules_problems(self.keyword_rules, list(specs), invalid_value)
            if problems:
                raise ValueError("; ".join(problems))
        return self

    @property
    def field_names(self) -> list[str]:
        return [f.name for f in self.fields]

    @property
    def prompt_template(self) -> str:
        return self.student.prompt_template


def load_task(path_or_name: str | os.PathLike[str] = "recipes") -> Task:
    """A task by name ("recipes" -> data/tasks/recipes.json) or by path to its JSON file."""
    text = str(path_or_name)
    tasks_dir = project_root() / "data" / "tasks"
    looks_like_path = text.endswith(".json") or os.sep in text or "/" in text
    path = resolve_path(text) if looks_like_path else tasks_dir / f"{text}.json"
    if not path.is_file():
        available = sorted(p.stem for p in tasks_dir.glob("*.json")) if tasks_dir.is_dir() else []
        raise JobError(
            "config",
            f"task file not found: {path}",
            f"use a task name among {available} or a path to a task JSON file",
        )
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as e:
        raise JobError("config", f"{path}: invalid JSON at line {e.lineno} column {e.colno}: {e.msg}") from e
    if not isinstance(raw, dict):
        raise JobError("config", f"{path}: a task file must hold a JSON object")
    try:
        return Task.model_validate({**raw, "file": str(path)})
    except ValidationError as e:
        raise JobError("config", f"{path}: invalid task: {_describe_validation(e)}") from e


def _describe_validation(e: ValidationError) -> str:
    parts = []
    for err in e.errors():
        where = ".".join(str(x) for x in err["loc"])
        parts.append(f"{where}: {err['msg']}" if where else err["msg"])
    return "; ".join(parts)


def render_prompt(task: Task, text: str) -> str:
    return text.join(task.student.prompt_template.split("{text}"))


def render_target(task: Task, labels: Labels) -> str:
    return json.dumps({f: labels[f] for f in task.field_names}, separators=(",", ":"), ensure_ascii=False)


def keyword_labels(task: Task, text: str) -> Labels:
    """The labels the task's keyword rules give a record text (the baseline that needs no model)."""
    if task.keyword_rules is None:
        raise JobError(
            "config", f"task {task.name!r} has no keyword_rules", "add a keyword_rules section to the task file"
        )
    return apply_keyword_rules(task.keyword_rules, task.field_names, text)


def json_schema(task: Task) -> dict[str, Any]:
    """JSON Schema of one answer, the same bytes as lib/src/task.ts jsonSchema (tests/lib/task-parity.test.ts checks
    it): every field required, nothing else allowed (OpenAI strict mode), so a string's maxLength goes into its
    description (strict mode does not support the keyword; validate_labels enforces it)."""
    properties: dict[str, Any] = {}
    for spec in task.fields:
        prop: dict[str, Any]
        if spec.type == "boolean":
            prop = {"type": "boolean", "description": spec.description}
        elif spec.type == "enum":
            prop = {"type": "string", "enum": list(spec.values or []), "description": spec.description}
        elif spec.type == "integer":
            prop = {"type": "integer", "description": spec.description}
            if spec.minimum is not None:
                prop["minimum"] = _json_number(spec.minimum)
            if spec.maximum is not None:
                prop["maximum"] = _json_number(spec.maximum)
        else:
            limit = f" (at most {spec.max_length} characters)" if spec.max_length is not None else ""
            prop = {"type": "string", "description": spec.description + limit}
        properties[spec.name] = prop
    return {"type": "object", "properties": properties, "required": task.field_names, "additionalProperties": False}


def _json_number(x: float) -> float | int:
    """1.0 -> 1: JSON.stringify writes a whole number without ".0", and so must we."""
    return int(x) if float(x).is_integer() else x


# ---------------------------------------------------------------------------------------------------------------
# Labels: validation and parsing of model output


def validate_labels(task: Task, value: Any) -> tuple[Labels | None, str | None]:
    """Check a decoded JSON value against the task: every field present with the right type, no extra field.

    Returns (labels in field order, None) or (None, an error naming the field). Integers written as 3.0 are accepted
    (JSON does not tell them apart; TS's zod .int() accepts them too)."""
    if not isinstance(value, dict):
        return None, f"expected a JSON object, got {_json_type(value)}"
    labels: Labels = {}
    for spec in task.fields:
        if spec.name not in value:
            return None, f"field {spec.name}: missing"
        checked, error = _check_field(spec, value[spec.name])
        if error is not None:
            return None, f"field {spec.name}: {error}"
        labels[spec.name] = checked
    extra = [k for k in value if k not in labels]
    if extra:
        return None, f"unexpected field{'s' if len(extra) > 1 else ''} {', '.join(extra)}"
    return labels, None


def _check_field(spec: FieldSpec, v: Any) -> tuple[Any, str | None]:
    if spec.type == "boolean":
        return (v, None) if isinstance(v, bool) else (None, f"expected boolean, got {_json_type(v)}")
    if spec.type == "enum":
        if not isinstance(v, str) or v not in (spec.values or []):
            return None, f"expected one of {spec.values}, got {json.dumps(v, ensure_ascii=False)}"
        return v, None
    if spec.type == "integer":
        if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v) or v != int(v):
            return None, f"expected integer, got {json.dumps(v, ensure_ascii=False)}"
        if spec.minimum is not None and v < spec.minimum:
            return None, f"expected >= {spec.minimum:g}, got {v}"
        if spec.maximum is not None and v > spec.maximum:
            return None, f"expected <= {spec.maximum:g}, got {v}"
        return int(v), None
    # string
    if not isinstance(v, str):
        return None, f"expected string, got {_json_type(v)}"
    if spec.max_length is not None and len(v) > spec.max_length:
        return None, f"expected at most {spec.max_length} characters, got {len(v)}"
    return v, None


def _json_type(v: Any) -> str:
    if v is None:
        return "null"
    if isinstance(v, bool):
        return "boolean"
    if isinstance(v, (int, float)):
        return "number"
    if isinstance(v, str):
        return "string"
    if isinstance(v, list):
        return "array"
    return "object"


def parse_labels(task: Task, completion: str) -> tuple[Labels | None, str | None]:
    """The first JSON object in a model's completion, validated against the task. Never raises."""
    start = completion.find("{")
    if start < 0:
        return None, "no JSON object in the output"
    try:
        value, _ = json.JSONDecoder().raw_decode(completion, start)
    except json.JSONDecodeError as e:
        return None, f"malformed JSON: {e.msg} at character {e.pos}"
    return validate_labels(task, value)


# ---------------------------------------------------------------------------------------------------------------
# Examples: OpenAI chat fine-tuning JSONL, or corpus lines {"id"?, "text", "labels"?}


@dataclass(frozen=True)
class Example:
    text: str
    labels: Labels | None
    id: str | None = None


def read_examples(jsonl_path: str | os.PathLike[str], task: Task, *, require_labels: bool = False) -> list[Example]:
    """Examples from a JSONL file. Each line is either

    - OpenAI chat fine-tuning format {"messages": [system?, user, assistant]}: the text is the user content; the
      labels are the assistant's content (JSON) or its tool_calls[0].function.arguments (JSON); or
    - a corpus line {"id"?, "text", "labels"?}.
    Errors name the file and line."""
    path = resolve_path(jsonl_path)
    if not path.is_file():
        raise JobError("data", f"file not found: {path}", "check the path (relative paths start at the project root)")
    examples: list[Example] = []
    with path.open(encoding="utf-8") as f:
        for line_no, line in enumerate(f, start=1):
            if not line.strip():
                continue
            where = f"{path}:{line_no}"
            try:
                record = json.loads(line)
            except json.JSONDecodeError as e:
                raise JobError("data", f"{where}: invalid JSON: {e.msg} at column {e.colno}") from e
            if not isinstance(record, dict):
                raise JobError("data", f"{where}: expected a JSON object per line, got {_json_type(record)}")
            example = (
                _chat_example(record, task, where) if "messages" in record else _plain_example(record, task, where)
            )
            if require_labels and example.labels is None:
                raise JobError("data", f"{where}: no labels", "training data needs labels on every line")
            examples.append(example)
    if not examples:
        raise JobError("data", f"{path}: no examples (the file is empty)")
    return examples


def _record_id(record: dict[str, Any], where: str) -> str | None:
    value = record.get("id")
    if value is None:
        return None
    if not isinstance(value, (str, int)) or isinstance(value, bool):
        raise JobError("data", f'{where}: "id" must be a string or a number')
    return str(value)


def _plain_example(record: dict[str, Any], task: Task, where: str) -> Example:
    text = record.get("text")
    if not isinstance(text, str) or not text:
        raise JobError("data", f'{where}: expected "messages" (chat format) or a non-empty "text" string')
    labels = None
    if record.get("labels") is not None:
        labels, error = validate_labels(task, record["labels"])
        if error:
            raise JobError("data", f"{where}: labels: {error}")
    return Example(text=text, labels=labels, id=_record_id(record, where))


def _content_text(content: Any) -> str | None:
    if isinstance(content, str):
        return content
    if isinstance(content, list):  # content parts: [{"type": "text", "text": ...}]
        texts = [p.get("text") for p in content if isinstance(p, dict) and p.get("type") == "text"]
        if texts and all(isinstance(t, str) for t in texts):
            return "".join(texts)
    return None


def _chat_example(record: dict[str, Any], task: Task, where: str) -> Example:
    messages = record["messages"]
    if not isinstance(messages, list) or not all(isinstance(m, dict) for m in messages):
        raise JobError("data", f'{where}: "messages" must be a list of objects')
    users = [m for m in messages if m.get("role") == "user"]
    if len(users) != 1:
        raise JobError("data", f"{where}: expected exactly one user message, found {len(users)}")
    text = _content_text(users[0].get("content"))
    if not text:
        raise JobError("data", f"{where}: the user message has no text content")
    assistants = [m for m in messages if m.get("role") == "assistant"]
    if len(assistants) > 1:
        raise JobError("data", f"{where}: expected at most one assistant message, found {len(assistants)}")
    labels = None
    if assistants:
        raw = _assistant_arguments(assistants[0], where)
        try:
            value = json.loads(raw)
        except json.JSONDecodeError as e:
            raise JobError("data", f"{where}: the assistant's labels are not valid JSON: {e.msg}") from e
        labels, error = validate_labels(task, value)
        if error:
            raise JobError("data", f"{where}: assistant labels: {error}")
    return Example(text=text, labels=labels, id=_record_id(record, where))


def _assistant_arguments(message: dict[str, Any], where: str) -> str:
    calls = message.get("tool_calls")
    if isinstance(calls, list) and calls:
        arguments = (calls[0].get("function") or {}).get("arguments") if isinstance(calls[0], dict) else None
    elif isinstance(message.get("function_call"), dict):  # the legacy function-calling format
        arguments = message["function_call"].get("arguments")
    else:
        arguments = _content_text(message.get("content"))
    if not isinstance(arguments, str) or not arguments.strip():
        raise JobError(
            "data",
            f"{where}: the assistant message has no labels",
            "put the labels as JSON in its content or in tool_calls[0].function.arguments",
        )
    return arguments


# ---------------------------------------------------------------------------------------------------------------
# Token ids: the one tokenization shared by training and inference


def encode_prompt(tokenizer: Any, prompt: str) -> list[int]:
    """Prompt -> ids, special tokens as the tokenizer adds them (e.g. BOS for Llama-2; none for SmolLM2)."""
    return list(tokenizer(prompt, add_special_tokens=True)["input_ids"])


def encode_target(tokenizer: Any, target: str) -> list[int]:
    """Target -> ids, tokenized on its own (no BOS), then EOS so the model learns to stop."""
    ids = list(tokenizer(target, add_special_tokens=False)["input_ids"])
    if tokenizer.eos_token_id is None:
        raise JobError("config", "the tokenizer has no EOS token", "use a base model whose tokenizer defines eos_token")
    return ids + [tokenizer.eos_token_id]
