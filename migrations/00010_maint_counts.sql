-- Counts across tenants for parkd's gauges (park_orphan_devices). parkd's
-- login reaches one tenant at a time, so a cross-tenant number comes from a
-- parameterless SECURITY DEFINER function owned by park_maint that returns
-- numbers only (DESIGN: park_maint). park_maint is made by
-- `parkctl db bootstrap`: upgrading a cluster means running it again before
-- this migration.

-- +goose Up
CREATE SCHEMA maint;
GRANT USAGE ON SCHEMA maint TO park_app;

GRANT SELECT (tenant_id, status) ON orphan_devices TO park_maint;
CREATE POLICY maint_count ON orphan_devices FOR SELECT TO park_maint USING (true);

-- +goose StatementBegin
CREATE FUNCTION maint.orphan_device_counts()
RETURNS TABLE (status text, devices bigint)
LANGUAGE sql STABLE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
    SELECT s.status, count(o.status)
      FROM (VALUES ('new'), ('ignored'), ('assigned')) AS s (status)
      LEFT JOIN public.orphan_devices o ON o.status = s.status
     GROUP BY s.status
$$;
-- +goose StatementEnd
-- Handing a function to a role needs that role's CREATE on the schema,
-- for the moment of the hand-over only.
GRANT CREATE ON SCHEMA maint TO park_maint;
ALTER FUNCTION maint.orphan_device_counts() OWNER TO park_maint;
REVOKE CREATE ON SCHEMA maint FROM park_maint;
REVOKE EXECUTE ON FUNCTION maint.orphan_device_counts() FROM PUBLIC;
GRANT EXECUTE ON FUNCTION maint.orphan_device_counts() TO park_app;

-- +goose Down
DROP SCHEMA maint CASCADE;
DROP POLICY maint_count ON orphan_devices;
REVOKE SELECT (tenant_id, status) ON orphan_devices FROM park_maint;
