"""Benchmarks of uno-jobs against the Python job systems it competes with."""
