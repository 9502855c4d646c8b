"""Benchmarks: bounded, print figures with ratios to baselines measured in the same run."""
