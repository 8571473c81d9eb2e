"""The ``initjax`` command (placeholder until the CLI issue lands: it only prints help)."""

import sys

_HELP = """initjax — weight initialization studied with JAX.

The command-line interface is not built yet: this version only prints this help.
Use the library instead, e.g.

    python -c "import initjax as ij, jax; print(ij.init.he_normal()(jax.random.key(0), (3, 2)))"
"""


def main(argv: list[str] | None = None) -> int:
    sys.stdout.write(_HELP)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
