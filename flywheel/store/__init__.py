"""The audit store: the DuckDB database of every round's tables, and what is made from it (the report, experiment tracking)."""
