"""The REST API: subscriptions, events, the catalog and administration."""
