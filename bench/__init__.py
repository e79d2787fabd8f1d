"""Benchmarks: scripts that print figures (not tests). Results go to BENCHMARKS.md."""
