"""HTTP APIs (Powertools event handler with OpenAPI validation). Handlers under functions/ resolve these."""
