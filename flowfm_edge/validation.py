"""One line for a pydantic validation error: the field, what is wrong with it and the value given.

The typed configurations (``ModelConfig``, ``TrainConfig``), the bundle manifest and the shard
store's index are checked by pydantic; a user sees the first problem as one line.

>>> from pydantic import BaseModel, Field, ValidationError
>>> class Run(BaseModel):
...     steps: int = Field(ge=1)
>>> try:
...     Run(steps=0)
... except ValidationError as exc:
...     print(one_line(exc))
field 'steps' must be greater than or equal to 1, got 0
"""

from __future__ import annotations


def field_name(loc: tuple) -> str:
    """('artefacts', 2, 'file', 'sha256') -> 'artefacts[2].file.sha256'."""
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


def short(value: object, n: int = 60) -> str:
    text = repr(value)
    return text if len(text) <= n else text[: n - 3] + "..."


def one_line(exc) -> str:
    """The first error of a pydantic ``ValidationError`` (and how many more) as one line."""
    errors = exc.errors()
    first = errors[0]
    more = f" (and {len(errors) - 1} more)" if len(errors) > 1 else ""
    msg = first["msg"].removeprefix("Value error, ")
    if not first["loc"]:  # a check across fields: its message names them
        return msg + more
    if first["type"] == "missing":
        return f"field '{field_name(first['loc'])}' is missing{more}"
    msg = msg.replace("Input should be", "must be", 1)
    return f"field '{field_name(first['loc'])}' {msg}, got {short(first.get('input'))}{more}"
