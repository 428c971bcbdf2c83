"""Tests of extractor.catalog: FBC parsing, channel graphs, resolution."""
