"""Tests of extractor.cli (the command-line tests proper are tests/test_cli*.py)."""
