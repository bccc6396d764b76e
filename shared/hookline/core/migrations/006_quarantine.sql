-- The quarantine (docs/delivery.md): records a consumer could not process, projected
-- from <prefix>.quarantine. One row per service and source record: the same record
-- quarantined again (a consumer restarted before it committed) is the same row.
CREATE TABLE quarantine (
    id              bigserial PRIMARY KEY,
    service         text NOT NULL,
    reason          text NOT NULL,
    topic           text NOT NULL,
    partition       integer NOT NULL,
    "offset"        bigint NOT NULL,
    tenant          text,
    quarantined_at  timestamptz NOT NULL,
    key             bytea,
    value           bytea,
    headers         jsonb NOT NULL DEFAULT '[]',
    truncated       boolean NOT NULL DEFAULT false,
    redriven_at     timestamptz,
    UNIQUE (service, topic, partition, "offset")
);
CREATE INDEX quarantine_tenant ON quarantine (tenant, id);
