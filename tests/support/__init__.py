"""Test helpers: the services as processes, a receiver, an API client."""
