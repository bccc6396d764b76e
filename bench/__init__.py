"""``make bench``: the end-to-end benchmark (see docs/benchmark.md)."""
