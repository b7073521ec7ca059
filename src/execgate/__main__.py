from __future__ import annotations

from execgate.cli import main

if __name__ == "__main__":
    raise SystemExit(main())
