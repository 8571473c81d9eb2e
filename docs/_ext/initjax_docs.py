"""Sphinx extension: generate the API, scheme, CLI and gallery pages from the code at build time.

Nothing here is written by hand twice: the API pages list every public module of ``initjax``
(found by walking the package), the σ table reads the init registry, the CLI page formats
``initjax.cli.build_parser()``, and the gallery reads each experiment script (its docstring and
its ``NAME``, ``QUESTION``, ``CLAIMS``, ``RUNTIME`` constants, parsed without importing it) plus
whatever results are committed for it. Pages are rewritten only when their text changes.
"""

from __future__ import annotations

import ast
import importlib
import io
import json
import os
import pkgutil
import re
from contextlib import redirect_stdout
from pathlib import Path
from typing import Any

DOCS = Path(__file__).resolve().parents[1]
ROOT = DOCS.parent
GALLERY_META = ("NAME", "QUESTION", "CLAIMS", "RUNTIME", "ORDER", "EXTRA")


def _write(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    if not path.exists() or path.read_text() != text:
        path.write_text(text)


# ------------------------------------------------------------------------------------------ API
def public_modules() -> list[str]:
    """Every importable ``initjax.*`` module whose dotted name has no ``_`` part.

    The experiments package (before it moved to the top-level ``experiments/``) is the gallery's.
    """
    import initjax

    found = []
    for info in pkgutil.walk_packages(initjax.__path__, "initjax."):
        parts = info.name.split(".")
        if any(p.startswith("_") for p in parts) or parts[1] == "experiments":
            continue
        found.append(info.name)
    return sorted(found)


def api_pages(out: Path) -> list[str]:
    modules = public_modules()
    for name in modules:
        _write(
            out / f"{name}.md",
            f"# `{name}`\n\n```{{eval-rst}}\n.. automodule:: {name}\n   :members:\n"
            "   :ignore-module-all:\n```\n",
        )
    toc = "\n".join(modules)
    _write(
        out / "index.md",
        "# API reference\n\nGenerated from the docstrings of every public module. "
        "The training configuration's fields, with their units and defaults, are on "
        "{doc}`initjax.config`; what σ means for each scheme is in {doc}`schemes`.\n\n"
        f"```{{toctree}}\n:maxdepth: 1\n\n{toc}\n```\n",
    )
    return modules


def _first_line(obj: Any) -> str:
    doc = (getattr(obj, "__doc__", None) or "").strip()
    return doc.split("\n\n")[0].replace("\n", " ").replace("|", "\\|")


def schemes_page(out: Path) -> None:
    from initjax import init

    rows = []
    for name in init.names():
        param = init.scale_param(name)
        default = init.default_scale(name)
        rows.append(
            f"| `{name}` | {f'`{param}`' if param else '—'} | "
            f"{'—' if default is None else f'{default:g}'} | {_first_line(init.builder(name))} |"
        )
    _write(
        out / "schemes.md",
        "# What σ means, per scheme\n\n"
        "Every sweep's `sigma` axis (and `initjax sweep --sigmas`) is the scheme's one scale "
        "argument; `initjax.init.scale_param(name)` names it. The actual standard deviation each "
        "layer's kernel is drawn with is recorded in every result as `init_std` "
        "(dims: outer axes, `sigma`, `layer`), the axis on which schemes compare. Generated from "
        "the registry (`initjax.init.names()`).\n\n"
        "| scheme | σ is its | default | definition |\n|---|---|---|---|\n"
        + "\n".join(rows)
        + "\n",
    )


# ------------------------------------------------------------------------------------------ CLI
def cli_page(path: Path) -> None:
    os.environ["COLUMNS"] = "100"
    from initjax import cli

    parser = cli.build_parser()
    sub = next(a for a in parser._actions if a.__class__.__name__ == "_SubParsersAction")
    parts = [
        "# Command line: `initjax`\n",
        "Generated from `initjax.cli.build_parser()`; the same text as `initjax COMMAND --help`.\n",
        "```text\n" + parser.format_help().rstrip() + "\n```\n",
    ]
    for name, p in sub.choices.items():
        parts.append(f"## `initjax {name}`\n\n```text\n{p.format_help().rstrip()}\n```\n")
    _write(path, "\n".join(parts))


# -------------------------------------------------------------------------------------- gallery
def experiments_dir() -> Path:
    """Top-level ``experiments/`` (the research scripts) first, else ``initjax/experiments/``."""
    top = ROOT / "experiments"
    return top if top.is_dir() and any(top.glob("*.py")) else ROOT / "initjax" / "experiments"


def read_experiment(path: Path) -> dict[str, Any] | None:
    """The script's docstring and metadata constants, read with ``ast`` (nothing is run)."""
    tree = ast.parse(path.read_text())
    meta: dict[str, Any] = {"doc": ast.get_docstring(tree) or "", "path": path}
    for node in tree.body:
        if isinstance(node, ast.Assign) and len(node.targets) == 1:
            target = node.targets[0]
            if isinstance(target, ast.Name) and target.id in GALLERY_META:
                try:
                    meta[target.id] = ast.literal_eval(node.value)
                except ValueError:
                    pass
    return meta if "NAME" in meta and "QUESTION" in meta else None


def discover() -> list[dict[str, Any]]:
    found = [read_experiment(p) for p in sorted(experiments_dir().glob("[!_]*.py"))]
    exps = [e for e in found if e is not None]
    order = _readme_order()
    return sorted(exps, key=lambda e: (e.get("ORDER", order.get(e["NAME"], 99)), e["NAME"]))


def _readme_rows() -> dict[str, dict[str, str]]:
    """The experiments README's table (committed measured results), keyed by experiment."""
    readme = experiments_dir() / "README.md"
    if not readme.exists():
        return {}
    lines = [ln for ln in readme.read_text().splitlines() if ln.startswith("|")]
    if len(lines) < 3:
        return {}
    head = [c.strip() for c in lines[0].strip("|").split("|")]
    rows = {}
    for ln in lines[2:]:
        cells = [c.strip() for c in ln.strip("|").split("|")]
        m = re.match(r"`([^`]+)`", cells[0])
        if m:
            rows[m.group(1)] = dict(zip(head, cells, strict=False))
    return rows


def _readme_order() -> dict[str, int]:
    return {name: i for i, name in enumerate(_readme_rows())}


def results_dirs(name: str) -> list[Path]:
    """Committed results of experiment ``name``, wherever the checkout keeps them."""
    candidates = [
        DOCS / name,
        ROOT / "results" / name,
        experiments_dir() / "results" / name,
        ROOT / "runs" / name,
    ]
    return [d for d in candidates if d.is_dir() and (DOCS / "_build") not in d.parents]


def _verdict_table(folder: Path) -> str:
    path = folder / "verdict.json"
    if not path.exists():
        return ""
    rows = json.loads(path.read_text())
    rows = rows.get("rows", rows) if isinstance(rows, dict) else rows
    # As REPORT.md's per-experiment tables: an evidence row agrees or disagrees with its
    # anchor; a sanity check (holds by construction) passes or FAILs. Old files: evidence.
    out = ["| kind | claim | anchor | ours | outcome | why |", "|---|---|---|---|---|---|"]
    for r in rows:
        kind = r.get("kind", "evidence")
        words = (
            ("pass", "FAIL", "n/a") if kind == "sanity" else ("agrees", "disagrees", "undecided")
        )
        outcome = dict(zip((True, False, None), words, strict=True))[r.get("passed")]
        cells = [
            kind,
            r.get("claim", ""),
            r.get("anchor", ""),
            r.get("ours", ""),
            outcome,
            r.get("why", ""),
        ]
        out.append("| " + " | ".join(str(c).replace("|", "\\|") for c in cells) + " |")
    return "\n".join(out) + "\n"


def _prose(doc: str) -> str:
    """A docstring as Markdown: rST ``code`` reads the same; section labels become bold."""
    doc = re.sub(r"``([^`]+)``", r"`\1`", doc)
    doc = re.sub(r":(?:mod|func|class|meth|attr|data):`~?([^`]+)`", r"`\1`", doc)
    return re.sub(r"^(\w[\w ()/-]{0,40}):(\s)", r"**\1:**\2", doc, flags=re.M)


def _run_note(folder: Path) -> str:
    """`` (full scale, run in 18 s ...)`` from the ``run.json`` that ``initjax run`` writes."""
    path = folder / "run.json"
    if not path.exists():
        return ""
    run = json.loads(path.read_text())
    seconds = run.get("seconds")
    took = f", run in {seconds:.0f} s" if isinstance(seconds, (int, float)) else ""
    where = "; machine, date and commit in `docs/README.md`" if folder.parent == DOCS else ""
    return f" ({run.get('scale', '?')} scale{took}{where})"


def _committed(name: str, out: Path) -> tuple[list[Path], list[str]]:
    """Figures and result blocks (verdict tables, results Markdown) committed for ``name``."""
    figures: list[Path] = []
    blocks: list[str] = []
    for folder in results_dirs(name):
        where = os.path.relpath(folder, ROOT)
        figures += sorted(folder.glob("*.png"))
        table = _verdict_table(folder)
        if table:
            blocks.append(
                f"Verdict rows{_run_note(folder)} from `{where}/verdict.json`:\n\n{table}"
            )
        for md in sorted(folder.glob("*.md")):
            blocks.append(
                f"Committed results, `{where}/{md.name}`:\n\n```{{include}} "
                f"{os.path.relpath(md, out)}\n:heading-offset: 1\n:relative-images:\n```\n"
            )
    return figures, blocks


def gallery_page(exp: dict[str, Any], out: Path) -> dict[str, Any]:
    name = exp["NAME"]
    runtime = exp.get("RUNTIME", {})
    readme = _readme_rows().get(name, {})
    lines = [f"# {name}\n", f"**Question.** {exp['QUESTION']}\n"]
    claims = ", ".join(exp.get("CLAIMS", ())) or "—"
    lines.append(f"**Claims:** {claims} · **script:** `{os.path.relpath(exp['path'], ROOT)}`\n")
    lines.append(
        "**Command:**\n\n```\n"
        f"initjax run {name} --quick   # {runtime.get('quick', '')}\n"
        f"initjax run {name} --full    # {runtime.get('full', '')}\n"
        + (
            f"python {os.path.relpath(exp['path'], ROOT)} --quick --out runs   # the script alone\n"
            if exp["path"].parent == ROOT / "experiments"
            else ""
        )
        + "```\n"
    )
    figures, blocks = _committed(name, out)
    if figures:
        lines.append("## Figures\n")
        for fig in figures:
            lines.append(
                f"```{{figure}} {os.path.relpath(fig, out)}\n:width: 100%\n\n"
                f"`{os.path.relpath(fig, ROOT)}`\n```\n"
            )
    lines.append("## Result\n")
    if readme:
        lines.append(
            "From the experiments README (measured by the test suite at quick scale):\n\n"
            "| anchor | our result (quick) |\n|---|---|\n"
            f"| {readme.get('anchor', '')} | {readme.get('our result (quick)', '')} |\n"
        )
    lines += blocks
    if not blocks and not readme:
        lines.append(f"No committed results yet: `initjax run {name} --quick` makes them.\n")
    lines.append(f"## About this experiment\n\n{_prose(exp['doc'])}\n")
    _write(out / f"{name}.md", "\n".join(lines))
    return {"name": name, "figures": [str(f) for f in figures]}


def gallery(out: Path) -> list[dict[str, Any]]:
    exps = discover()
    pages = [gallery_page(e, out) for e in exps]
    items = "\n".join(f"| [{e['NAME']}]({e['NAME']}.md) | {e['QUESTION']} |" for e in exps)
    toc = "\n".join(e["NAME"] for e in exps)
    _write(
        out / "index.md",
        "# Experiments gallery\n\nOne page per experiment script, generated from the script "
        "(question, claims, runtime, docstring) and its committed results.\n\n"
        f"| experiment | question |\n|---|---|\n{items}\n\n"
        f"```{{toctree}}\n:hidden:\n\n{toc}\n```\n",
    )
    _write(out / "manifest.json", json.dumps(pages, indent=1) + "\n")
    return pages


def generate(app: Any = None) -> None:
    with redirect_stdout(io.StringIO()):
        importlib.invalidate_caches()
        api_pages(DOCS / "api")
        schemes_page(DOCS / "api")
        cli_page(DOCS / "cli.md")
        gallery(DOCS / "gallery")


_LITERAL = re.compile(r"(``.+?``)")


def plain_math(app: Any, what: str, name: str, obj: Any, options: Any, lines: list[str]) -> None:
    """Docstrings write math in plain text (``|x|²``, ``(*batch, n)``), which rST would read as
    substitutions and emphasis; escape those characters outside ``literals`` and tables."""
    for i, line in enumerate(lines):
        text = line.strip()
        if text.startswith((">>>", "...", "+-", "+=")) or (text[:1] == text[-1:] == "|"):
            continue  # doctest or table
        parts = _LITERAL.split(line)
        for j in range(0, len(parts), 2):
            parts[j] = parts[j].replace("|", "\\|").replace("(*", "(\\*")
        lines[i] = "".join(parts)


def _napoleon_skips_attributes(app: Any) -> None:
    """Napoleon reads an attribute docstring's first ``a: b`` as ``type: description``; the
    Config fields' docstrings are prose with colons, so attributes are left to plain rST."""
    listeners = app.events.listeners["autodoc-process-docstring"]
    for i, listener in enumerate(listeners):
        if getattr(listener.handler, "__module__", "") == "sphinx.ext.napoleon":
            handler = listener.handler

            def wrapped(app, what, *args, _handler=handler):
                if what not in ("attribute", "data", "property"):
                    _handler(app, what, *args)

            listeners[i] = listener._replace(handler=wrapped)


def setup(app: Any) -> dict[str, Any]:
    app.setup_extension("sphinx.ext.napoleon")
    _napoleon_skips_attributes(app)
    app.connect("builder-inited", generate)
    app.connect("autodoc-process-docstring", plain_math, priority=400)  # before napoleon
    return {"version": "1", "parallel_read_safe": True}
