-- Hookline's read model and attempt log. Everything here but tenants and API keys
-- can be rebuilt from the topics.

CREATE TABLE tenants (
    id          bigserial PRIMARY KEY,
    name        text NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE api_keys (
    id          bigserial PRIMARY KEY,
    tenant_id   bigint NOT NULL REFERENCES tenants(id),
    key_hash    bytea NOT NULL UNIQUE,
    prefix      text NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now(),
    revoked_at  timestamptz
);

CREATE TABLE event_types (
    name          text PRIMARY KEY,
    description   text NOT NULL DEFAULT '',
    payload_model text,
    plural        text
);

-- Subscription ids are handed out here; the subscription itself lives on the topic.
CREATE SEQUENCE subscription_ids;

CREATE TABLE subscriptions (
    id                 bigint PRIMARY KEY,
    tenant_id          bigint NOT NULL,
    version            integer NOT NULL,
    events             text[] NOT NULL,
    target_url         text NOT NULL,
    fields             text,
    format             text NOT NULL DEFAULT 'default',
    status             text NOT NULL,
    auth_header_name   text,
    auth_header_value  text,
    secret             text NOT NULL,
    created_at         timestamptz NOT NULL,
    updated_at         timestamptz NOT NULL,
    deleted            boolean NOT NULL DEFAULT false
);
CREATE INDEX subscriptions_tenant ON subscriptions (tenant_id, created_at DESC) WHERE NOT deleted;

-- How far the projector has read each partition of hookline.subscriptions.
CREATE TABLE projector_offsets (
    topic      text NOT NULL,
    partition  integer NOT NULL,
    next_offset bigint NOT NULL,
    PRIMARY KEY (topic, partition)
);
