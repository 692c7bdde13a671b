"""The `ledgerbridge` command line: operator and tenant commands against a deployed or local hub."""
