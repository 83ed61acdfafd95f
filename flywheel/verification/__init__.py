"""Verification: the verifier plugin contract and runner, the round's shards and chunks, and judging a file of responses."""
