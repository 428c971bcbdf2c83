"""Test helpers: tool lookup, real servers started by the tests (registry, ...)."""
