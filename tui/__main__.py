"""`python -m tui` runs the `policywatch` command."""

from tui.cli import script

if __name__ == "__main__":  # guarded: spawned worker processes re-import this module
    raise SystemExit(script())
