"""What every Hookline service shares: the messages and their codecs, the decisions
(matching, fields, retry delays, signing, envelopes) as pure functions, and the thin
clients of Kafka and PostgreSQL with the settings, topics, failure policy and quarantine
around them."""
