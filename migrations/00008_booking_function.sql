-- Booking in one statement: book_reservation claims the idempotency key,
-- locks the space, inserts the reservation and writes its audit event, so a
-- booking takes two round trips (this call, then the stored answer with the
-- COMMIT) instead of six (DESIGN §7).
--
-- SECURITY INVOKER: it runs as the caller (park_app) under row-level
-- security and the caller's grants, exactly as the statements it replaces
-- did; it acts for app_tenant_id(), the tenant the transaction's prologue
-- set, and for no other. It pins search_path and schema-qualifies every
-- name, like the SECURITY DEFINER look-ups, and only park_app may call it.

-- +goose Up

-- A booking inserts an idempotency key and an audit event, and each insert's
-- foreign key check locks the tenant's row (FOR KEY SHARE) until the
-- transaction ends. Every booking of a tenant locks that one row, so
-- concurrent bookings pile up as lockers of it (a new multixact for each,
-- listing all the others), for the whole transaction. Checked at COMMIT
-- instead, the lock is held for the commit alone: the benchmark's bookings
-- ran about 1.4 times as fast. The check is as strict (a key or event of a
-- missing tenant still fails, at COMMIT, with the same error); ON DELETE
-- CASCADE is never deferred.
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
    p_space_id     uuid,
    p_id           uuid,
    p_starts_at    timestamptz,
    p_ends_at      timestamptz,
    p_created_by   uuid,
    p_actor        text,
    p_principal_id uuid,
    p_key          text,
    p_fingerprint  bytea,
    p_now          timestamptz,
    p_expires_at   timestamptz)
RETURNS TABLE (
    outcome        text,
    r_tenant_id    uuid,
    r_id           uuid,
    r_space_id     uuid,
    r_starts_at    timestamptz,
    r_ends_at      timestamptz,
    r_status       text,
    r_request_id   text,
    r_created_by   uuid,
    r_created_at   timestamptz,
    r_cancelled_at timestamptz,
    c_id           uuid,
    c_starts_at    timestamptz,
    c_ends_at      timestamptz,
    k_status       integer,
    k_body         text)
LANGUAGE plpgsql VOLATILE SECURITY INVOKER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    v_tenant  uuid := public.app_tenant_id();
    v_during  tstzrange := tstzrange(p_starts_at, p_ends_at, '[)');
    v_claimed boolean := p_key IS NULL;
    k         record;
    r         public.reservations;
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
                   created_at = now(), expires_at = p_expires_at
             WHERE i.tenant_id = v_tenant AND i.principal_id = p_principal_id AND i.key = p_key;
            v_claimed := true;
            EXIT;
        END IF;
        IF k.fingerprint <> p_fingerprint THEN
            outcome := 'reused';
            RETURN NEXT;
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
        RETURN NEXT;
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
        RETURN NEXT;
        RETURN;
    END IF;

    -- The lock makes the bookings of one space take turns and keeps the
    -- space from being deleted under a booking: SpaceDelete takes the same
    -- lock and then looks for reservations.
    PERFORM 1 FROM public.spaces s
      WHERE s.tenant_id = v_tenant AND s.id = p_space_id AND s.deleted_at IS NULL
        FOR UPDATE;
    IF NOT FOUND THEN
        outcome := 'not_found';
        RETURN NEXT;
        RETURN;
    END IF;

    FOR attempt IN 1..3 LOOP
        -- ON CONFLICT DO NOTHING without a target covers the exclusion
        -- constraint too: an overlap yields no row instead of an error.
        INSERT INTO public.reservations AS x (tenant_id, id, space_id, during, request_id, created_by)
        VALUES (v_tenant, p_id, p_space_id, v_during, p_key, p_created_by)
        ON CONFLICT DO NOTHING
        RETURNING x.* INTO r;
        IF FOUND THEN
            INSERT INTO public.audit_events (tenant_id, actor, action, target, details)
            VALUES (v_tenant, p_actor, 'reservation.create', r.id::text, jsonb_build_object(
                'space_id', r.space_id,
                'starts_at', to_char(lower(r.during) AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS"Z"'),
                'ends_at', to_char(upper(r.during) AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS"Z"'),
                'request_id', r.request_id));
            outcome := 'created';
            r_tenant_id := r.tenant_id;
            r_id := r.id;
            r_space_id := r.space_id;
            r_starts_at := lower(r.during);
            r_ends_at := upper(r.during);
            r_status := r.status;
            r_request_id := r.request_id;
            r_created_by := r.created_by;
            r_created_at := r.created_at;
            r_cancelled_at := r.cancelled_at;
            RETURN NEXT;
            RETURN;
        END IF;
        -- Only a confirmed reservation holds the slot: a cancelled one is
        -- history and must never be named as the conflict.
        SELECT x.id, lower(x.during), upper(x.during) INTO c_id, c_starts_at, c_ends_at
          FROM public.reservations x
         WHERE x.tenant_id = v_tenant AND x.space_id = p_space_id AND x.status = 'confirmed'
           AND x.during && v_during
         ORDER BY lower(x.during), x.id
         LIMIT 1;
        IF FOUND THEN
            outcome := 'conflict';
            RETURN NEXT;
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
