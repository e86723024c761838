"""Reusable widgets and modal screens of the TUI, one per file."""
