"""The CLI's exit codes, in one place (docs/architecture.md "Contracts")."""

OK = 0
PROBLEM = 1  # ran and found a problem: violations, stale output, a failed migration
USAGE = 2  # bad usage, configuration or input
INTERRUPTED = 130
