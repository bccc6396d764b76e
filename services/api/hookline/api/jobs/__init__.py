"""Background work of the API: auto-disable and replay jobs."""
