"""One module per `policywatch` subcommand. Each has `add_arguments(parser)` and
`run(args) -> int`, and imports its heavy dependencies inside `run`, so that building the
parser stays cheap and `policywatch fetch` never imports Textual."""
