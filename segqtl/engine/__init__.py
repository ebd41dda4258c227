"""Work units, the worker pool and run orchestration."""
