"""Vendor auth as data (providers.toml) plus the generic flows that read it."""
