"""Use cases: what the handlers call. Each function takes the tenant id it acts for."""
