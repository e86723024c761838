"""One module per tab of the TUI; each tab renders results of ``database.dev`` calls run in workers."""
