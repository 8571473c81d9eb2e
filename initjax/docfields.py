"""Attribute docstrings of a dataclass's fields, and a class docstring that lists them.

A field documented by the string literal after it (PEP 257's "attribute docstring")::

    epochs: int = 10
    \"\"\"Passes over the training set.\"\"\"

is invisible to ``help()``: Python keeps no such string. :func:`with_fields` appends a
``Fields:`` section built from them to the class docstring, so that ``help(train.Config)``,
the API docs and ``initjax sweep --help`` (:mod:`initjax.cli_args`) say the same thing.
"""

from __future__ import annotations

import ast
import dataclasses
import inspect
import itertools
import re
import textwrap
from typing import Any


def attribute_docs(cls: type) -> dict[str, str]:
    """``{field: docstring}`` for the annotated attributes of ``cls`` followed by a string,
    whitespace collapsed, reST roles and double backquotes removed."""
    try:
        tree = ast.parse(textwrap.dedent(inspect.getsource(cls)))
    except (OSError, TypeError):  # no source (e.g. a frozen app): no descriptions
        return {}
    docs: dict[str, str] = {}
    body = tree.body[0].body if tree.body and isinstance(tree.body[0], ast.ClassDef) else []
    for stmt, nxt in itertools.pairwise(body):
        if (
            isinstance(stmt, ast.AnnAssign)
            and isinstance(stmt.target, ast.Name)
            and isinstance(nxt, ast.Expr)
            and isinstance(nxt.value, ast.Constant)
            and isinstance(nxt.value.value, str)
        ):
            text = " ".join(nxt.value.value.split()).replace("``", "")
            docs[stmt.target.id] = re.sub(r":\w+:`~?([^`]+)`", r"\1", text)
    return docs


def _default(f: dataclasses.Field) -> Any:
    if f.default is not dataclasses.MISSING:
        return f.default
    if f.default_factory is not dataclasses.MISSING:
        return f.default_factory()
    return "required"


def with_fields(cls: type, width: int = 92) -> str:
    """``cls.__doc__`` followed by ``Fields:``, one entry per dataclass field:
    ``name (type, default value): description``."""
    docs = attribute_docs(cls)
    lines = [inspect.cleandoc(cls.__doc__ or ""), "", "Fields:"]
    for f in dataclasses.fields(cls):  # type: ignore[arg-type]
        kind = f.type if isinstance(f.type, str) else getattr(f.type, "__name__", str(f.type))
        head = f"{f.name} ({kind}, default {_default(f)!r})"
        text = f"{head}: {docs[f.name]}" if f.name in docs else head
        lines += textwrap.wrap(text, width, initial_indent="  ", subsequent_indent="      ")
    return "\n".join(lines) + "\n"
