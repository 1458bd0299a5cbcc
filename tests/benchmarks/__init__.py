"""Speed benchmarks (pytest-benchmark); run with -n 0 --benchmark-enable to time them (in one process)."""
