"""The test suite is a package so that test modules and conftest.py import their helpers from
tests/support by relative import (pytest's importlib mode), without touching sys.path."""
