"""initjax: weight initialization studied with JAX.

Submodules are re-exported lazily so that ``import initjax`` stays fast and a layer is only
loaded when it is used (``ij.init``, ``ij.data``, ``ij.train``, ``ij.sweep`` ...).
"""

import importlib
from typing import Any

__version__ = "0.1.0"

_SUBMODULES = (
    "activations",
    "init",
    "data",
    "dataset",
    "fashion_mnist",
    "models",
    "nets",
    "parametrization",
    "cell_layout",
    "cpu_conv",
    "optim",
    "config",
    "step",
    "train",
    "init_scale",
    "grid",
    "coordcheck",
    "sweep",
    "shard",
    "diagnostics",
    "spectra",
    "statistics",
    "theory",
    "lsuv",
    "atomic",
    "results",
    "tables",
    "aggregate",
    "equivalence",
    "trainability",
    "variables",
    "logs",
    "plots",
    "sweep_report",
    "tensorboard",
    "checkpoint",
    "checkpointer",
    "verdict",
    "report",
    "study",
    "plugins",
    "memory",
    "plan",
    "outer",
    "grid_values",
    "coerce",
    "seal",
    "lock",
    "stop",
    "space",
    "docfields",
    "config_file",
    "cli_report",
    "cli_parser",
    "cli_sweep",
    "cli",
)

__all__ = ["__version__", *_SUBMODULES]


def __getattr__(name: str) -> Any:
    if name in _SUBMODULES:
        return importlib.import_module(f"initjax.{name}")
    raise AttributeError(f"module 'initjax' has no attribute {name!r}")
