-- Ingest: sensor readings, uplink dedupe, orphan devices, webhook secrets
-- (DESIGN §2, §5).

-- +goose Up

-- Every stored uplink of a known device. No unique key, so the table can be
-- partitioned by time later; duplicates are kept out by uplink_dedupe.
CREATE TABLE sensor_readings (
    tenant_id    uuid             NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    id           bigint           GENERATED ALWAYS AS IDENTITY,
    space_id     uuid             NOT NULL,
    dev_eui      text             NOT NULL CHECK (dev_eui ~ '^[0-9a-f]{16}$'),
    f_cnt        bigint           CHECK (f_cnt BETWEEN 0 AND 4294967295),
    source       text             NOT NULL CHECK (source IN ('chirpstack', 'tts', 'generic')),
    msg_key      text             NOT NULL CHECK (length(msg_key) BETWEEN 1 AND 255),
    occupied     boolean,
    rssi         integer,
    snr          double precision,
    read_at      timestamptz      NOT NULL,
    received_at  timestamptz      NOT NULL,
    payload      jsonb
);
CREATE INDEX sensor_readings_space_idx ON sensor_readings (tenant_id, space_id, read_at DESC);
CREATE INDEX sensor_readings_received_idx ON sensor_readings (tenant_id, received_at);

-- The network server's message identity, taken once. msg_key is ChirpStack's
-- deduplicationId, the TTS correlation id (else session_key_id:f_cnt), the
-- generic id, else "fcnt:<n>" — never the bare frame counter, which restarts
-- at 0 after every join. An id-less uplink takes its key again once the
-- window has passed (INSERT … ON CONFLICT … DO UPDATE … WHERE seen_at < …).
CREATE TABLE uplink_dedupe (
    tenant_id  uuid        NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    dev_eui    text        NOT NULL CHECK (dev_eui ~ '^[0-9a-f]{16}$'),
    msg_key    text        NOT NULL CHECK (length(msg_key) BETWEEN 1 AND 255),
    seen_at    timestamptz NOT NULL,
    PRIMARY KEY (tenant_id, dev_eui, msg_key)
);
CREATE INDEX uplink_dedupe_seen_idx ON uplink_dedupe (seen_at);

CREATE TABLE orphan_devices (
    tenant_id          uuid             NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    dev_eui            text             NOT NULL CHECK (dev_eui ~ '^[0-9a-f]{16}$'),
    first_seen_at      timestamptz      NOT NULL,
    last_seen_at       timestamptz      NOT NULL,
    uplink_count       bigint           NOT NULL DEFAULT 1 CHECK (uplink_count >= 0),
    last_source        text             CHECK (last_source IN ('chirpstack', 'tts', 'generic')),
    last_payload       jsonb,
    last_occupied      boolean,
    last_rssi          integer,
    last_snr           double precision,
    last_read_at       timestamptz,
    status             text             NOT NULL DEFAULT 'new' CHECK (status IN ('new', 'ignored', 'assigned')),
    assigned_space_id  uuid,
    PRIMARY KEY (tenant_id, dev_eui)
);
CREATE INDEX orphan_devices_status_idx ON orphan_devices (tenant_id, status, last_seen_at DESC);

-- Webhook secrets are sealed with AES-256-GCM under the master key (tenant
-- id, secret id and key version as additional data): an HMAC needs the raw
-- secret, so a hash cannot work.
CREATE TABLE webhook_secrets (
    tenant_id    uuid        NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    id           uuid        NOT NULL,
    mode         text        NOT NULL CHECK (mode IN ('standard', 'hmac', 'token')),
    sealed       bytea       NOT NULL,
    key_version  integer     NOT NULL CHECK (key_version >= 1),
    created_at   timestamptz NOT NULL DEFAULT now(),
    expires_at   timestamptz,
    revoked_at   timestamptz,
    PRIMARY KEY (tenant_id, id)
);
CREATE INDEX webhook_secrets_mode_idx ON webhook_secrets (tenant_id, mode) WHERE revoked_at IS NULL;

ALTER TABLE sensor_readings ENABLE ROW LEVEL SECURITY;
ALTER TABLE sensor_readings FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON sensor_readings
    USING (tenant_id = app_tenant_id()) WITH CHECK (tenant_id = app_tenant_id());

ALTER TABLE uplink_dedupe ENABLE ROW LEVEL SECURITY;
ALTER TABLE uplink_dedupe FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON uplink_dedupe
    USING (tenant_id = app_tenant_id()) WITH CHECK (tenant_id = app_tenant_id());

ALTER TABLE orphan_devices ENABLE ROW LEVEL SECURITY;
ALTER TABLE orphan_devices FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON orphan_devices
    USING (tenant_id = app_tenant_id()) WITH CHECK (tenant_id = app_tenant_id());

ALTER TABLE webhook_secrets ENABLE ROW LEVEL SECURITY;
ALTER TABLE webhook_secrets FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON webhook_secrets
    USING (tenant_id = app_tenant_id()) WITH CHECK (tenant_id = app_tenant_id());

GRANT SELECT, INSERT, DELETE ON sensor_readings TO park_app;
GRANT SELECT, INSERT, UPDATE, DELETE ON uplink_dedupe TO park_app;
GRANT SELECT, INSERT, UPDATE, DELETE ON orphan_devices TO park_app;
GRANT SELECT, INSERT ON webhook_secrets TO park_app;
GRANT UPDATE (sealed, key_version, expires_at, revoked_at) ON webhook_secrets TO park_app;
GRANT SELECT ON sensor_readings, uplink_dedupe, orphan_devices, webhook_secrets TO park_ops;

-- +goose Down
DROP TABLE webhook_secrets;
DROP TABLE orphan_devices;
DROP TABLE uplink_dedupe;
DROP TABLE sensor_readings;
