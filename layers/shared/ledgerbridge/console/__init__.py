"""The console: server-rendered pages for the people who run a connection (see ARCHITECTURE.md, "Console")."""
