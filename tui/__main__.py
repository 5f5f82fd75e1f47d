"""`python -m tui` runs the `policywatch` command."""

from tui.cli import main

raise SystemExit(main())
