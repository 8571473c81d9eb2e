"""Sphinx configuration: ``python -m sphinx -W -b html docs docs/_build/html``.

The API pages, the CLI reference, the scheme table and the experiments gallery are generated at
build time by ``_ext/initjax_docs.py`` from the code (never written by hand); the tutorials are
MyST text notebooks executed by myst-nb.
"""

import os
import sys
from pathlib import Path

DOCS = Path(__file__).resolve().parent
sys.path.insert(0, str(DOCS / "_ext"))
sys.path.insert(0, str(DOCS.parent))  # the checkout's initjax, not an installed copy
os.environ.setdefault("PYTHONPATH", str(DOCS.parent))  # the notebook kernels too

import initjax  # noqa: E402

project = "initjax"
author = "initjax contributors"
copyright = "2026, initjax contributors"
release = version = initjax.__version__

extensions = [
    "myst_nb",
    "sphinx.ext.autodoc",
    "sphinx.ext.autosummary",
    "sphinx.ext.napoleon",
    "sphinx.ext.mathjax",
    "sphinx.ext.viewcode",
    "sphinx_copybutton",
    "initjax_docs",
]

# Committed results (docs/<experiment>/) are read by the gallery, their Markdown included there;
# docs/README.md says where they came from, for readers of the repository.
exclude_patterns = [
    "_build",
    "jupyter_execute",
    "**/.ipynb_checkpoints",
    "*/results.md",
    "README.md",
    "REPORT.md",  # what `initjax run NAME --out docs` also writes
]
html_theme = "furo"
html_title = "initjax"
html_static_path: list[str] = []

myst_enable_extensions = ["dollarmath", "colon_fence", "deflist"]
myst_heading_anchors = 3

# Tutorials: executed at every build (small: each trains seconds on 2 CPU cores); a failing cell
# fails the build, and the execution report is checked by tests/test_docs.py.
nb_execution_mode = os.environ.get("INITJAX_DOCS_EXECUTE", "force")
nb_execution_timeout = 300
nb_execution_raise_on_error = True
nb_execution_show_tb = True
nb_merge_streams = True
nb_output_stderr = "remove"  # progress-bar and library warnings, not what a reader needs

autodoc_member_order = "bysource"
autodoc_typehints = "description"
autodoc_default_options = {"members": True, "undoc-members": False, "show-inheritance": False}
napoleon_google_docstring = True
napoleon_numpy_docstring = False
napoleon_use_rtype = False
napoleon_custom_sections = [("Fields", "params_style")]  # Config's generated field list

copybutton_prompt_text = r">>> |\.\.\. |\$ "
copybutton_prompt_is_regexp = True

# Cross-references to jax/flax/xarray types in signatures are not resolved (no intersphinx:
# the build runs offline), so they are not errors.
nitpicky = False
suppress_warnings = ["myst.header"]
