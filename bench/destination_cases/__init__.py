"""One module per destination benchmarked by bench/bench_destinations.py (see its docstring)."""
