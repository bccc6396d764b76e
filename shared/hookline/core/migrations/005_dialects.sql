-- Dialects (issue 13): which source API's envelope a subscription's deliveries use.
ALTER TABLE subscriptions ADD COLUMN dialect text NOT NULL DEFAULT 'tripletex';
