"""User plugins: Python files that register schemes, models and optimizers, loaded by path.

``initjax sweep --plugin my_inits.py`` calls :func:`load` before it reads any other flag, so
a scheme the file registers (:func:`initjax.init.register`) is a valid ``--scheme``, and the
same holds for ``initjax.models.register`` and ``initjax.train.register_optimizer``. Each
loaded file's path and SHA-256 go into the provenance of the results and into the sweep's
fingerprint, so a resume with an edited plugin is refused rather than mixing two inits.
"""

from __future__ import annotations

import hashlib
import importlib.util
import sys
from pathlib import Path
from types import ModuleType

_LOADED: dict[str, tuple[str, ModuleType]] = {}  # sha256 -> (resolved path, module)


class PluginError(ValueError):
    """A plugin file is missing, unreadable or raised while being imported."""


def load(path: str | Path) -> ModuleType:
    """Import the Python file ``path`` (once per content); raise :class:`PluginError`."""
    p = Path(path).expanduser()
    try:
        source = p.read_bytes()
    except OSError as e:
        raise PluginError(f"cannot read plugin {str(path)!r}: {e.strerror or e}") from None
    if p.suffix != ".py":
        raise PluginError(f"a plugin must be a Python file ending in .py, got {str(path)!r}")
    sha = hashlib.sha256(source).hexdigest()
    if sha in _LOADED:
        return _LOADED[sha][1]
    name = f"initjax_plugin_{p.stem}_{sha[:12]}"
    spec = importlib.util.spec_from_file_location(name, p)
    if spec is None or spec.loader is None:
        raise PluginError(f"cannot import plugin {str(path)!r}")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    try:
        spec.loader.exec_module(module)
    except Exception as e:
        del sys.modules[name]
        raise PluginError(f"plugin {str(path)!r} failed: {type(e).__name__}: {e}") from e
    _LOADED[sha] = (str(p.resolve()), module)
    return module


def loaded() -> list[dict[str, str]]:
    """``[{"path": ..., "sha256": ...}]`` of every plugin loaded in this process, in order."""
    return [{"path": path, "sha256": sha} for sha, (path, _) in _LOADED.items()]
