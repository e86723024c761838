"""dbtui: the terminal UI and command line for developing a Postgres schema."""
