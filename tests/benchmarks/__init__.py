"""Speed benchmarks (pytest-benchmark); run with --benchmark-enable to time them."""
