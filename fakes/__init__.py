"""Local fake platform servers that enforce the real protocols (tests, demo, benchmarks)."""
