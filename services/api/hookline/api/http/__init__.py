"""The HTTP side of the API: the app, its views, and how requests are read and answered."""
