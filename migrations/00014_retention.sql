-- Retention (DESIGN §9): readings older than their tenant's
-- reading_retention_days, uplink_dedupe rows older than 7 days and expired
-- idempotency keys are deleted in bounded batches, hourly by parkd and on
-- demand by `parkctl readings prune`.
--
-- parkd's login reaches one tenant at a time, so the cross-tenant path is
-- one parameterless SECURITY DEFINER function per kind, owned by park_maint
-- (made by `parkctl db bootstrap`; upgrading a cluster means running it
-- again before this migration), executable by park_app alone. Each deletes
-- at most one batch of 5000 rows (a constant here, never an argument; the
-- Go side knows it as retention.BatchSize), decides what is past retention
-- itself (the readings' cut-off comes from each tenant's settings), and
-- returns only the number of rows it deleted. park_maint gets DELETE on the
-- three tables and SELECT on exactly the columns the functions read (ctid
-- among them: a system column needs its own column grant), through
-- FOR SELECT and FOR DELETE policies of its own; the catalog check
-- (migrations.MaintGrants, migrations.MaintFunctions) pins both lists.
--
-- Every batch finds its rows through an index and deletes them by ctid
-- (a TID scan), so a batch never reads the whole table: readings through
-- sensor_readings_received_idx (tenant_id, received_at), one probe per
-- tenant; dedupe rows through uplink_dedupe_seen_idx (seen_at); keys
-- through idempotency_keys_expires_idx (expires_at). The outer WHERE
-- repeats the age test, so a row a concurrent transaction brought back to
-- life (an id-less uplink reclaiming its dedupe key, a booking reusing an
-- expired key) is re-checked after the wait and kept.
--
-- lock_timeout: park_maint may not take row locks (SKIP LOCKED needs an
-- UPDATE grant), so a batch waits for rows a request holds. The short
-- timeout makes a batch that meets such a row give up (the caller retries
-- it) well before PostgreSQL's deadlock check (deadlock_timeout, 1s by
-- default) could pick an ingest batch or a booking as the victim.

-- +goose Up

-- A tenant's reading retention in days: settings.reading_retention_days
-- when it is a number (the API keeps it to 1..3650; clamped here all the
-- same), else the platform default of 90. One definition for the
-- maintenance function and for `parkctl readings prune --tenant`.
-- +goose StatementBegin
CREATE FUNCTION reading_retention_days(settings jsonb) RETURNS integer
    LANGUAGE sql IMMUTABLE PARALLEL SAFE
    SET search_path = pg_catalog, pg_temp
    AS $$
    SELECT CASE WHEN pg_catalog.jsonb_typeof(settings -> 'reading_retention_days') = 'number'
                THEN GREATEST(1, LEAST(3650, pg_catalog.floor((settings ->> 'reading_retention_days')::numeric)))::integer
                ELSE 90 END
$$;
-- +goose StatementEnd
REVOKE ALL ON FUNCTION reading_retention_days(jsonb) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION reading_retention_days(jsonb) TO park_app, park_ops, park_maint;

GRANT SELECT (id, settings) ON tenants TO park_maint;
CREATE POLICY maint_prune ON tenants FOR SELECT TO park_maint USING (true);

GRANT SELECT (ctid, tenant_id, received_at), DELETE ON sensor_readings TO park_maint;
CREATE POLICY maint_prune_read ON sensor_readings FOR SELECT TO park_maint USING (true);
CREATE POLICY maint_prune ON sensor_readings FOR DELETE TO park_maint USING (true);

GRANT SELECT (ctid, seen_at), DELETE ON uplink_dedupe TO park_maint;
CREATE POLICY maint_prune_read ON uplink_dedupe FOR SELECT TO park_maint USING (true);
CREATE POLICY maint_prune ON uplink_dedupe FOR DELETE TO park_maint USING (true);

GRANT SELECT (ctid, expires_at), DELETE ON idempotency_keys TO park_maint;
CREATE POLICY maint_prune_read ON idempotency_keys FOR SELECT TO park_maint USING (true);
CREATE POLICY maint_prune ON idempotency_keys FOR DELETE TO park_maint USING (true);

-- One batch of readings past their tenant's retention: for each tenant,
-- its oldest readings received before now() minus its retention (an index
-- range scan that stops at the batch size), at most 5000 in all.
-- +goose StatementBegin
CREATE FUNCTION maint.prune_readings() RETURNS bigint
LANGUAGE sql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
SET lock_timeout = '200ms'
AS $$
    WITH gone AS (
        DELETE FROM public.sensor_readings d
         WHERE d.ctid = ANY (ARRAY(
                   SELECT r.tid
                     FROM public.tenants t
                    CROSS JOIN LATERAL (
                          SELECT s.ctid AS tid
                            FROM public.sensor_readings s
                           WHERE s.tenant_id = t.id
                             AND s.received_at < pg_catalog.now()
                                 - pg_catalog.make_interval(days => public.reading_retention_days(t.settings))
                           ORDER BY s.received_at
                           LIMIT 5000) r
                    LIMIT 5000))
        RETURNING 1
    )
    SELECT pg_catalog.count(*) FROM gone
$$;
-- +goose StatementEnd

-- One batch of dedupe rows last seen more than 7 days ago: beyond the
-- longest dedupe window (PARKD_DEDUPE_WINDOW is at most 168h).
-- +goose StatementBegin
CREATE FUNCTION maint.prune_uplink_dedupe() RETURNS bigint
LANGUAGE sql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
SET lock_timeout = '200ms'
AS $$
    WITH gone AS (
        DELETE FROM public.uplink_dedupe d
         WHERE d.ctid = ANY (ARRAY(
                   SELECT x.ctid
                     FROM public.uplink_dedupe x
                    WHERE x.seen_at < pg_catalog.now() - interval '7 days'
                    ORDER BY x.seen_at
                    LIMIT 5000))
           AND d.seen_at < pg_catalog.now() - interval '7 days'
        RETURNING 1
    )
    SELECT pg_catalog.count(*) FROM gone
$$;
-- +goose StatementEnd

-- One batch of idempotency keys whose time is up. An expired key is treated
-- as absent whether or not it is deleted; this only reclaims the space.
-- +goose StatementBegin
CREATE FUNCTION maint.prune_idempotency_keys() RETURNS bigint
LANGUAGE sql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
SET lock_timeout = '200ms'
AS $$
    WITH gone AS (
        DELETE FROM public.idempotency_keys k
         WHERE k.ctid = ANY (ARRAY(
                   SELECT x.ctid
                     FROM public.idempotency_keys x
                    WHERE x.expires_at <= pg_catalog.now()
                    ORDER BY x.expires_at
                    LIMIT 5000))
           AND k.expires_at <= pg_catalog.now()
        RETURNING 1
    )
    SELECT pg_catalog.count(*) FROM gone
$$;
-- +goose StatementEnd

-- Handing a function to a role needs that role's CREATE on the schema,
-- for the moment of the hand-over only (as in 00010).
GRANT CREATE ON SCHEMA maint TO park_maint;
ALTER FUNCTION maint.prune_readings() OWNER TO park_maint;
ALTER FUNCTION maint.prune_uplink_dedupe() OWNER TO park_maint;
ALTER FUNCTION maint.prune_idempotency_keys() OWNER TO park_maint;
REVOKE CREATE ON SCHEMA maint FROM park_maint;
REVOKE EXECUTE ON FUNCTION maint.prune_readings() FROM PUBLIC;
REVOKE EXECUTE ON FUNCTION maint.prune_uplink_dedupe() FROM PUBLIC;
REVOKE EXECUTE ON FUNCTION maint.prune_idempotency_keys() FROM PUBLIC;
GRANT EXECUTE ON FUNCTION maint.prune_readings() TO park_app;
GRANT EXECUTE ON FUNCTION maint.prune_uplink_dedupe() TO park_app;
GRANT EXECUTE ON FUNCTION maint.prune_idempotency_keys() TO park_app;

-- +goose Down
DROP FUNCTION maint.prune_idempotency_keys();
DROP FUNCTION maint.prune_uplink_dedupe();
DROP FUNCTION maint.prune_readings();
DROP POLICY maint_prune ON idempotency_keys;
DROP POLICY maint_prune_read ON idempotency_keys;
REVOKE SELECT (ctid, expires_at), DELETE ON idempotency_keys FROM park_maint;
DROP POLICY maint_prune ON uplink_dedupe;
DROP POLICY maint_prune_read ON uplink_dedupe;
REVOKE SELECT (ctid, seen_at), DELETE ON uplink_dedupe FROM park_maint;
DROP POLICY maint_prune ON sensor_readings;
DROP POLICY maint_prune_read ON sensor_readings;
REVOKE SELECT (ctid, tenant_id, received_at), DELETE ON sensor_readings FROM park_maint;
DROP POLICY maint_prune ON tenants;
REVOKE SELECT (id, settings) ON tenants FROM park_maint;
DROP FUNCTION reading_retention_days(jsonb);
