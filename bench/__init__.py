"""Benchmarks: each module measures ours against the real peer in one run and returns rows (see common.Row)."""
