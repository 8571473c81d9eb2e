"""Write tests/durations.json from a test run's ``--durations=0`` report.

Its per-file table only orders the test files for ``--dist loadfile`` (longest first,
tests/conftest.py); a stale or missing entry changes which worker runs a file when, never what
runs. It also keeps the slowest tests (setup + call + teardown), so that the suite's time can
be worked on from a fresh checkout without rerunning it. Refresh it after a full run on an
idle machine::

    python -m pytest -q -n 2 --dist loadfile --durations=0 | tee suite.log
    python tests/update_durations.py suite.log
"""

from __future__ import annotations

import json
import re
import sys
from collections import defaultdict
from pathlib import Path

LINE = re.compile(r"^([\d.]+)s (?:call|setup|teardown)\s+((tests/[^:\s]+)::\S+)")
SLOWEST = 40


def per_test(text: str) -> dict[str, float]:
    """Seconds per test id: its setup, call and teardown times summed."""
    seconds: dict[str, float] = defaultdict(float)
    for line in text.splitlines():
        found = LINE.match(line)
        if found:
            seconds[found[2]] += float(found[1])
    return dict(seconds)


def per_file(text: str) -> dict[str, float]:
    """Seconds per test file: the sum of its tests' setup, call and teardown times."""
    seconds: dict[str, float] = defaultdict(float)
    for test, s in per_test(text).items():
        seconds[test.split("::")[0]] += s
    return {k: round(v, 1) for k, v in sorted(seconds.items(), key=lambda kv: -kv[1])}


def slowest(text: str, n: int = SLOWEST) -> dict[str, float]:
    """The ``n`` slowest tests, longest first (a module fixture's setup counts to the test
    that ran first in its file)."""
    ranked = sorted(per_test(text).items(), key=lambda kv: -kv[1])[:n]
    return {k: round(v, 1) for k, v in ranked}


def main(argv: list[str]) -> int:
    if len(argv) != 1:
        print(__doc__, file=sys.stderr)
        return 2
    text = Path(argv[0]).read_text()
    seconds = per_file(text)
    if not seconds:
        print(f"no '--durations=0' lines in {argv[0]}", file=sys.stderr)
        return 1
    out = Path(__file__).with_name("durations.json")
    about = (
        "seconds per test file and for the slowest tests (setup + call + teardown), "
        "from tests/update_durations.py"
    )
    table = {"about": about, "seconds": seconds, "slowest": slowest(text)}
    out.write_text(json.dumps(table, indent=1) + "\n")
    print(f"{out}: {len(seconds)} files, {sum(seconds.values()):.0f} s in all")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
