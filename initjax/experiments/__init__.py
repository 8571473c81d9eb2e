"""One experiment per claim of the study note; see ``base`` for what each module provides."""

from initjax.experiments.base import EXPERIMENTS, EXTRA, SCALES, Row, get, names, run_one

__all__ = ["EXPERIMENTS", "EXTRA", "SCALES", "Row", "get", "names", "run_one"]
