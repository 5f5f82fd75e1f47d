"""policywatch's engine: fetch, parse, classify and store policy news and prices.

Never imports textual: usable from the CLI, tests and the TUI alike."""

__version__ = "0.1.0"
