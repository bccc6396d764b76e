-- Delivery: secret rotation, the attempt log, endpoint health and the dead letters.
-- All of it is projected from topics (hookline.subscriptions, hookline.attempts,
-- hookline.dead-letters) by the API; positions are kept in projector_offsets.

ALTER TABLE subscriptions
    ADD COLUMN previous_secret            text,
    ADD COLUMN previous_secret_expires_at timestamptz;

-- One row per HTTP request made for a delivery. Old rows are deleted after
-- HOOKLINE_ATTEMPT_RETENTION.
CREATE TABLE attempts (
    id               bigserial PRIMARY KEY,
    subscription_id  bigint NOT NULL,
    tenant_id        bigint NOT NULL,
    delivery_id      text NOT NULL,
    event            text NOT NULL,
    event_id         text NOT NULL,
    attempt          integer NOT NULL,
    at               timestamptz NOT NULL,
    outcome          text NOT NULL,
    reason           text NOT NULL,
    status           integer,
    latency_ms       double precision,
    response_body    text
);
CREATE INDEX attempts_subscription ON attempts (subscription_id, at DESC, id DESC);
CREATE INDEX attempts_at ON attempts (at);

-- Per subscription: since when it has failed without a success (auto-disable).
CREATE TABLE subscription_health (
    subscription_id  bigint PRIMARY KEY,
    tenant_id        bigint NOT NULL,
    failing_since    timestamptz,
    last_failure_at  timestamptz,
    last_success_at  timestamptz
);

-- Deliveries that used up their retries (or met a 410). ``message`` is the
-- Delivery as it was on hookline.dead-letters, so a redelivery sends it as it was.
CREATE TABLE dead_letters (
    id               bigserial PRIMARY KEY,
    subscription_id  bigint NOT NULL,
    tenant_id        bigint NOT NULL,
    delivery_id      text NOT NULL,
    event            text NOT NULL,
    event_id         text NOT NULL,
    attempts         integer NOT NULL,
    last_error       text,
    dead_at          timestamptz NOT NULL DEFAULT now(),
    redelivered_at   timestamptz,
    message          bytea NOT NULL
);
CREATE INDEX dead_letters_subscription ON dead_letters (subscription_id, id DESC);
