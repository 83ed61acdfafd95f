"""Prompts from files: the chat formats, the public sets' own fields, and decoding untrusted data within bounds."""
