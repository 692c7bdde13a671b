"""The `ledgerbridge` command line: operator and tenant commands against a deployed or local hub."""
from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("ledgerbridge")
except PackageNotFoundError:  # run from a checkout that was not installed
    __version__ = "0+unknown"
