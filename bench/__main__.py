"""`make bench`: runs every benchmark module in bench/ one after another (each as
`python -m bench.<name>`, so each starts the services it needs and cleans up), and prints their
figures. Copy the figures with date and machine into docs/benchmarks.md."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path


def main() -> int:
    here = Path(__file__).parent
    # A benchmark is a module that runs as a script; the others are its shared parts.
    names = sorted(
        p.stem
        for p in here.glob("*.py")
        if not p.stem.startswith("_") and 'if __name__ == "__main__":' in p.read_text()
    )
    selected = sys.argv[1:] or names
    failed = []
    for name in selected:
        print(f"\n===== bench.{name} =====", flush=True)
        if subprocess.run([sys.executable, "-m", f"bench.{name}"]).returncode != 0:
            failed.append(name)
    if failed:
        print(f"\nfailed: {', '.join(failed)}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
