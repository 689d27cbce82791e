from __future__ import annotations

import sys

from bench.cli import main
from bench.scale_cli import COMMANDS as SCALE_COMMANDS

if len(sys.argv) > 1 and sys.argv[1] in SCALE_COMMANDS:
    from bench.scale_cli import main as scale_main

    raise SystemExit(scale_main(sys.argv[1:]))
raise SystemExit(main())
