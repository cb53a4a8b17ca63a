-- Reservation integrity findings across tenants, for parkd's
-- park_reservation_integrity_findings gauge: the numbers `parkctl
-- reservations audit` reports, without the rows. parkd's login reaches one
-- tenant at a time, so like maint.orphan_device_counts (00010) this is a
-- parameterless SECURITY DEFINER function owned by park_maint that returns
-- numbers only. park_maint gets SELECT on exactly the columns the three
-- checks read, and a read-only policy on the two tables.

-- +goose Up
GRANT SELECT (tenant_id, id, space_id, during, status, created_at) ON reservations TO park_maint;
GRANT SELECT (tenant_id, id, deleted_at) ON spaces TO park_maint;
GRANT SELECT ON reservation_conflicts TO park_maint;
CREATE POLICY maint_count ON reservations FOR SELECT TO park_maint USING (true);
CREATE POLICY maint_count ON spaces FOR SELECT TO park_maint USING (true);

-- The same three checks as the audit (reservation/audit.go), counted:
--   conflict         pairs of confirmed reservations of one space that
--                    overlap (rows of reservation_conflicts);
--   deleted_space    confirmed reservations on a deleted space that had not
--                    ended when it was deleted, or were made after;
--   tenant_mismatch  reservations whose space is no space of their tenant.
-- Every kind is always returned, so a gauge at 0 is a real 0.
-- +goose StatementBegin
CREATE FUNCTION maint.reservation_integrity_counts()
RETURNS TABLE (kind text, findings bigint)
LANGUAGE sql STABLE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
    SELECT 'conflict'::text, count(*) FROM public.reservation_conflicts
    UNION ALL
    SELECT 'deleted_space', count(*)
      FROM public.reservations r
      JOIN public.spaces s ON s.tenant_id = r.tenant_id AND s.id = r.space_id
     WHERE r.status = 'confirmed' AND s.deleted_at IS NOT NULL
       AND (upper(r.during) > s.deleted_at OR r.created_at >= s.deleted_at)
    UNION ALL
    SELECT 'tenant_mismatch', count(*)
      FROM public.reservations r
     WHERE NOT EXISTS (SELECT 1 FROM public.spaces s
                        WHERE s.tenant_id = r.tenant_id AND s.id = r.space_id)
$$;
-- +goose StatementEnd
GRANT CREATE ON SCHEMA maint TO park_maint;
ALTER FUNCTION maint.reservation_integrity_counts() OWNER TO park_maint;
REVOKE CREATE ON SCHEMA maint FROM park_maint;
REVOKE EXECUTE ON FUNCTION maint.reservation_integrity_counts() FROM PUBLIC;
GRANT EXECUTE ON FUNCTION maint.reservation_integrity_counts() TO park_app;

-- +goose Down
DROP FUNCTION maint.reservation_integrity_counts();
DROP POLICY maint_count ON spaces;
DROP POLICY maint_count ON reservations;
REVOKE SELECT ON reservation_conflicts FROM park_maint;
REVOKE SELECT (tenant_id, id, deleted_at) ON spaces FROM park_maint;
REVOKE SELECT (tenant_id, id, space_id, during, status, created_at) ON reservations FROM park_maint;
