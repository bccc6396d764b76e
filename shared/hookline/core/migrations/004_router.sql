-- Router features that need a little state outside Kafka (issue 4).

-- Version order across retries (docs/ordering.md): per subscription and object, the
-- highest position (offset in hookline.events) the deliverer has tried. A delivery
-- below it is older than one already tried and is dropped. Rows not touched for a
-- while are deleted by the deliverer.
CREATE TABLE delivery_order (
    subscription_id  bigint NOT NULL,
    ordering_key     text NOT NULL,
    position         bigint NOT NULL,
    updated_at       timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (subscription_id, ordering_key)
);
CREATE INDEX delivery_order_updated ON delivery_order (updated_at);

-- Replays (docs/replay.md): one row per POST .../replay, with its progress. The
-- job runs in an API process; ``positions`` (next offset per partition of
-- hookline.events) and ``heartbeat_at`` let another API process resume it.
CREATE TABLE replays (
    id               text PRIMARY KEY,
    subscription_id  bigint NOT NULL,
    tenant_id        bigint NOT NULL,
    since            timestamptz NOT NULL,
    status           text NOT NULL,
    total            bigint,          -- events in the range, once the job has looked
    processed        bigint NOT NULL DEFAULT 0,
    replayed         bigint NOT NULL DEFAULT 0,
    starts           jsonb,
    ends             jsonb,
    positions        jsonb,
    error            text,
    created_at       timestamptz NOT NULL DEFAULT now(),
    heartbeat_at     timestamptz NOT NULL DEFAULT now(),
    finished_at      timestamptz
);
CREATE INDEX replays_subscription ON replays (subscription_id, created_at DESC);
CREATE INDEX replays_running ON replays (heartbeat_at) WHERE status = 'RUNNING';
