-- Booking in one statement: book_reservation claims the idempotency key,
-- locks the space, inserts the reservation and writes its audit event, so a
-- booking takes two round trips (this call, then the stored answer with the
-- COMMIT) instead of six (DESIGN §7).
--
-- SECURITY INVOKER: it runs as the caller (park_app) under row-level
-- security and the caller's grants, exactly as the statements it replaces
-- did; it acts for app_tenant_id(), the tenant the transaction's prologue
-- set, and for no other; only park_app may call it. It qualifies its
-- tables and functions but sets no search_path: a SET clause would cost a
-- configuration change on every call, and a function that runs with its
-- caller's rights gains the caller nothing it did not have.

-- +goose Up

-- A booking inserts an idempotency key and an audit event, and each insert's
-- foreign key check locks the tenant's row (FOR KEY SHARE) until the
-- transaction ends. Every booking of a tenant locks that one row, so
-- concurrent bookings pile up as lockers of it (a new multixact for each,
-- listing all the others), for the whole transaction. Checked at COMMIT
-- instead, the lock is held for the commit alone: in one benchmark run
-- that made about a third more bookings per second. The check is as strict
-- (a key or event of a missing tenant still fails, at COMMIT, with the same
-- error); ON DELETE CASCADE is never deferred.
ALTER TABLE idempotency_keys ALTER CONSTRAINT idempotency_keys_tenant_id_fkey DEFERRABLE INITIALLY DEFERRED;
ALTER TABLE audit_events ALTER CONSTRAINT audit_events_tenant_id_fkey DEFERRABLE INITIALLY DEFERRED;

-- Outcomes (the outcome column; the other columns are NULL unless named):
--   created    the reservation was made (r_*), with its audit event;
--   conflict   a confirmed reservation of the space overlaps (c_*: the
--              earliest such), nothing written but the key;
--   not_found  no live space of the tenant has that id;
--   over       a new request whose range has ended by p_now;
--   replay     the key was answered before for this fingerprint (k_*);
--   reused     the key was used for another fingerprint.
-- For created, conflict and not_found the key (when given) is claimed and
-- its row is this transaction's: the caller stores the answer in it and
-- commits. For over and reused the caller rolls back.
--
-- p_key NULL books without idempotency. The key is claimed with INSERT …
-- ON CONFLICT DO NOTHING, which waits for a transaction holding the same
-- key to end; SELECT … FOR UPDATE then reads the committed answer (each
-- statement of a VOLATILE function takes a new snapshot in READ COMMITTED)
-- and keeps the pruner off the row. A key past its expiry (judged at p_now,
-- the caller's clock) is taken over. Locks are taken in one order: the key,
-- then the space; the pruner skips locked rows, so bookings do not deadlock
-- one another.
-- +goose StatementBegin
CREATE FUNCTION book_reservation(
    p_space_id         uuid,
    p_id               uuid,
    p_starts_at        timestamptz,
    p_ends_at          timestamptz,
    p_created_by       uuid,
    p_actor            text,
    p_principal_id     uuid,
    p_key              text,
    p_fingerprint      bytea,
    p_now              timestamptz,
    p_expires_at       timestamptz,
    OUT outcome        text,
    OUT r_tenant_id    uuid,
    OUT r_id           uuid,
    OUT r_space_id     uuid,
    OUT r_starts_at    timestamptz,
    OUT r_ends_at      timestamptz,
    OUT r_status       text,
    OUT r_request_id   text,
    OUT r_created_by   uuid,
    OUT r_created_at   timestamptz,
    OUT r_cancelled_at timestamptz,
    OUT c_id           uuid,
    OUT c_starts_at    timestamptz,
    OUT c_ends_at      timestamptz,
    OUT k_status       integer,
    OUT k_body         text)
LANGUAGE plpgsql VOLATILE SECURITY INVOKER
AS $$
DECLARE
    v_tenant  uuid := public.app_tenant_id();
    v_during  tstzrange := pg_catalog.tstzrange(p_starts_at, p_ends_at, '[)');
    v_claimed boolean := p_key IS NULL;
    v_live    boolean;
    k         record;
BEGIN
    IF v_tenant IS NULL THEN
        RAISE EXCEPTION 'book_reservation: no tenant is set for the transaction';
    END IF;

    FOR attempt IN 1..3 LOOP
        EXIT WHEN v_claimed;
        INSERT INTO public.idempotency_keys (tenant_id, principal_id, key, fingerprint, expires_at)
        VALUES (v_tenant, p_principal_id, p_key, p_fingerprint, p_expires_at)
        ON CONFLICT DO NOTHING;
        IF FOUND THEN
            v_claimed := true;
            EXIT;
        END IF;
        SELECT i.fingerprint, i.status_code, i.body::text AS body, i.expires_at INTO k
          FROM public.idempotency_keys i
         WHERE i.tenant_id = v_tenant AND i.principal_id = p_principal_id AND i.key = p_key
           FOR UPDATE;
        -- Pruned between the insert and the lock: claim it afresh.
        CONTINUE WHEN NOT FOUND;
        IF k.expires_at <= p_now THEN
            -- Forgotten: the key is free for a new request.
            UPDATE public.idempotency_keys i
               SET fingerprint = p_fingerprint, status_code = NULL, body = NULL,
                   created_at = pg_catalog.now(), expires_at = p_expires_at
             WHERE i.tenant_id = v_tenant AND i.principal_id = p_principal_id AND i.key = p_key;
            v_claimed := true;
            EXIT;
        END IF;
        IF k.fingerprint <> p_fingerprint THEN
            outcome := 'reused';
            RETURN;
        END IF;
        IF k.status_code IS NULL OR k.body IS NULL THEN
            -- The claim and the answer commit together, so a committed key
            -- always has its answer.
            RAISE EXCEPTION 'book_reservation: idempotency key without an answer';
        END IF;
        outcome := 'replay';
        k_status := k.status_code;
        k_body := k.body;
        RETURN;
    END LOOP;
    IF NOT v_claimed THEN
        RAISE EXCEPTION 'book_reservation: the idempotency key keeps being deleted'
            USING ERRCODE = 'serialization_failure';
    END IF;

    -- A new request: a range that is over is refused (the caller rolls the
    -- claim back, so the key stays usable).
    IF p_ends_at <= p_now THEN
        outcome := 'over';
        RETURN;
    END IF;

    FOR attempt IN 1..3 LOOP
        -- One statement locks the live space, inserts the reservation and
        -- writes its audit event. The lock (FOR UPDATE) makes the bookings
        -- of one space take turns and keeps the space from being deleted
        -- under a booking: SpaceDelete takes the same lock and then looks
        -- for reservations. ON CONFLICT DO NOTHING without a target covers
        -- the exclusion constraint too: an overlap yields no row instead of
        -- an error.
        WITH space AS (
            SELECT s.id FROM public.spaces s
             WHERE s.tenant_id = v_tenant AND s.id = p_space_id AND s.deleted_at IS NULL
               FOR UPDATE
        ), made AS (
            INSERT INTO public.reservations AS x (tenant_id, id, space_id, during, request_id, created_by)
            SELECT v_tenant, p_id, space.id, v_during, p_key, p_created_by FROM space
            ON CONFLICT DO NOTHING
            RETURNING x.id, x.during, x.status, x.request_id, x.created_by, x.created_at, x.cancelled_at
        ), audited AS (
            INSERT INTO public.audit_events (tenant_id, actor, action, target, details)
            SELECT v_tenant, p_actor, 'reservation.create', made.id::text, pg_catalog.jsonb_build_object(
                       'space_id', p_space_id,
                       'starts_at', pg_catalog.to_char(pg_catalog.lower(made.during) AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS"Z"'),
                       'ends_at', pg_catalog.to_char(pg_catalog.upper(made.during) AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS"Z"'),
                       'request_id', made.request_id)
              FROM made
        )
        SELECT f.live, m.id, pg_catalog.lower(m.during), pg_catalog.upper(m.during), m.status, m.request_id,
               m.created_by, m.created_at, m.cancelled_at
          INTO v_live, r_id, r_starts_at, r_ends_at, r_status, r_request_id,
               r_created_by, r_created_at, r_cancelled_at
          FROM (SELECT pg_catalog.count(*) > 0 AS live FROM space) f
          LEFT JOIN made m ON true;
        IF NOT v_live THEN
            outcome := 'not_found';
            RETURN;
        END IF;
        IF r_id IS NOT NULL THEN
            outcome := 'created';
            r_tenant_id := v_tenant;
            r_space_id := p_space_id;
            RETURN;
        END IF;
        -- Only a confirmed reservation holds the slot: a cancelled one is
        -- history and must never be named as the conflict.
        SELECT x.id, pg_catalog.lower(x.during), pg_catalog.upper(x.during) INTO c_id, c_starts_at, c_ends_at
          FROM public.reservations x
         WHERE x.tenant_id = v_tenant AND x.space_id = p_space_id AND x.status = 'confirmed'
           AND x.during OPERATOR(pg_catalog.&&) v_during
         ORDER BY pg_catalog.lower(x.during), x.id
         LIMIT 1;
        IF FOUND THEN
            outcome := 'conflict';
            RETURN;
        END IF;
        -- The reservation in the way was cancelled between the insert and
        -- the look-up: try again.
    END LOOP;
    RAISE EXCEPTION 'book_reservation: the conflicting reservation keeps changing'
        USING ERRCODE = 'serialization_failure';
END
$$;
-- +goose StatementEnd

REVOKE ALL ON FUNCTION book_reservation(uuid, uuid, timestamptz, timestamptz, uuid, text, uuid, text, bytea, timestamptz, timestamptz) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION book_reservation(uuid, uuid, timestamptz, timestamptz, uuid, text, uuid, text, bytea, timestamptz, timestamptz) TO park_app;

-- +goose Down
ALTER TABLE audit_events ALTER CONSTRAINT audit_events_tenant_id_fkey NOT DEFERRABLE;
ALTER TABLE idempotency_keys ALTER CONSTRAINT idempotency_keys_tenant_id_fkey NOT DEFERRABLE;
DROP FUNCTION book_reservation(uuid, uuid, timestamptz, timestamptz, uuid, text, uuid, text, bytea, timestamptz, timestamptz);
