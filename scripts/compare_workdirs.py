"""Compare two workdirs table by table: ``python scripts/compare_workdirs.py A B [--renamed OLD=NEW] [--replace OLD=NEW]``.

Prints one line per table (same, or how it differs) and exits 1 when any table differs. Used to show
that a restructuring changed no row: the demo run before and after, under two folders.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from flywheel.store.comparison import compare_workdirs


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("first", type=Path)
    parser.add_argument("second", type=Path)
    parser.add_argument("--renamed", action="append", default=[], metavar="OLD=NEW",
                        help="a table named OLD in the first store and NEW in the second")
    parser.add_argument("--replace", action="append", default=[], metavar="OLD=NEW",
                        help="text OLD in the first store's rows reads as NEW (another checkout's folder, say)")
    args = parser.parse_args()
    renamed = dict(item.split("=", 1) for item in args.renamed)
    replace = dict(item.split("=", 1) for item in args.replace)
    found = compare_workdirs(args.first, args.second, renamed, replace)
    width = max(map(len, found)) if found else 0
    for table, difference in found.items():
        print(f"{table:<{width}}  {'same rows' if not difference else difference}")
    differing = [t for t, d in found.items() if d]
    print(f"{len(found) - len(differing)} of {len(found)} tables the same" + (f"; differ: {', '.join(differing)}"
                                                                              if differing else ""))
    return 1 if differing else 0


if __name__ == "__main__":
    sys.exit(main())
