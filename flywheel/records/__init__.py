"""Rows between stages: the data model (schema), batched Parquet reading and writing, and atomic files."""
