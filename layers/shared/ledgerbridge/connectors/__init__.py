"""Vendor connectors. Each vendor is one package here, registered in ``registry.py``."""
