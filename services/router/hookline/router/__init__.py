"""The router: a Faust app that matches each event to its subscriptions."""
