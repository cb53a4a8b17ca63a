-- Reservations and idempotency keys (DESIGN §2, §7).

-- +goose Up

-- A confirmed reservation holds its space for during = [starts_at, ends_at).
-- The EXCLUDE constraint makes a double booking impossible whatever the code
-- does; adjacent half-open ranges do not overlap. Cancelled rows keep their
-- range for history and no longer block the slot.
CREATE TABLE reservations (
    tenant_id     uuid        NOT NULL,
    id            uuid        NOT NULL,
    space_id      uuid        NOT NULL,
    during        tstzrange   NOT NULL,
    status        text        NOT NULL DEFAULT 'confirmed' CHECK (status IN ('confirmed', 'cancelled')),
    request_id    text        CHECK (length(request_id) BETWEEN 1 AND 255),
    created_by    uuid,
    created_at    timestamptz NOT NULL DEFAULT now(),
    cancelled_at  timestamptz,
    PRIMARY KEY (tenant_id, id),
    FOREIGN KEY (tenant_id, space_id) REFERENCES spaces (tenant_id, id) ON DELETE CASCADE,
    CONSTRAINT reservations_during_check CHECK (
        NOT isempty(during) AND lower_inc(during) AND NOT upper_inc(during)
        AND NOT lower_inf(during) AND NOT upper_inf(during)
        AND lower(during) < upper(during)),
    CONSTRAINT reservations_cancel_check CHECK ((status = 'cancelled') = (cancelled_at IS NOT NULL)),
    CONSTRAINT reservations_no_overlap EXCLUDE USING gist (
        tenant_id WITH =, space_id WITH =, during WITH &&) WHERE (status = 'confirmed')
);
CREATE INDEX reservations_space_idx ON reservations (tenant_id, space_id, lower(during));

-- Pairs of confirmed, overlapping reservations of one space. Always empty
-- while the constraint stands; `parkctl reservations audit` and
-- `migrate verify` read it as a role that sees every tenant.
CREATE VIEW reservation_conflicts WITH (security_invoker = true) AS
SELECT a.tenant_id, a.space_id,
       a.id AS reservation_id, a.during AS reservation_during,
       b.id AS conflicting_id, b.during AS conflicting_during
  FROM reservations a
  JOIN reservations b
    ON b.tenant_id = a.tenant_id AND b.space_id = a.space_id
   AND a.id < b.id AND a.during && b.during
 WHERE a.status = 'confirmed' AND b.status = 'confirmed';

-- One row per (tenant, principal, Idempotency-Key). status_code is NULL while
-- the first request is in flight.
CREATE TABLE idempotency_keys (
    tenant_id     uuid        NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    principal_id  uuid        NOT NULL,
    key           text        NOT NULL CHECK (length(key) BETWEEN 1 AND 255),
    fingerprint   bytea       NOT NULL CHECK (length(fingerprint) = 32),
    status_code   integer     CHECK (status_code BETWEEN 200 AND 499),
    body          jsonb,
    created_at    timestamptz NOT NULL DEFAULT now(),
    expires_at    timestamptz NOT NULL,
    PRIMARY KEY (tenant_id, principal_id, key)
);
CREATE INDEX idempotency_keys_expires_idx ON idempotency_keys (expires_at);

ALTER TABLE reservations ENABLE ROW LEVEL SECURITY;
ALTER TABLE reservations FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON reservations
    USING (tenant_id = app_tenant_id()) WITH CHECK (tenant_id = app_tenant_id());

ALTER TABLE idempotency_keys ENABLE ROW LEVEL SECURITY;
ALTER TABLE idempotency_keys FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON idempotency_keys
    USING (tenant_id = app_tenant_id()) WITH CHECK (tenant_id = app_tenant_id());

GRANT SELECT, INSERT ON reservations TO park_app;
GRANT UPDATE (status, cancelled_at) ON reservations TO park_app;
GRANT SELECT ON reservation_conflicts TO park_app;
GRANT SELECT, INSERT, UPDATE, DELETE ON idempotency_keys TO park_app;
GRANT SELECT ON reservations, reservation_conflicts, idempotency_keys TO park_ops;

-- +goose Down
DROP TABLE idempotency_keys;
DROP VIEW reservation_conflicts;
DROP TABLE reservations;
