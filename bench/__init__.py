"""Load benchmarks: `python -m bench.run` compares the Accord API with a bare Litestar endpoint."""
