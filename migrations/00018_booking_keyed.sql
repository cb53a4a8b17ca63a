-- A keyed booking that writes the idempotency key's row once: the caller
-- renders the answer to the reservation it is about to make (it chooses the
-- id, and created_at from its own clock) and book_reservation_keyed claims
-- the key with that answer already in the row, then locks the space,
-- inserts the reservation and writes its audit event, exactly in the order
-- of book_reservation (00008). When the booking is made, the transaction's
-- second round trip is the COMMIT alone, where before it updated the key's
-- row with the answer first: one row version and one statement less on
-- every booking. A refusal (no such space, an overlap) takes the answer out
-- of the row again and the caller stores the refusal's answer before its
-- COMMIT, in the same transaction, as before.
--
-- SECURITY INVOKER like book_reservation: it runs as the caller (park_app)
-- under row-level security and the caller's grants, acts for
-- app_tenant_id() and for no other, and only park_app may call it.
-- book_reservation stays: this release calls it for bookings without a key,
-- and servers of the previous release call it for every booking while an
-- upgrade rolls out.

-- +goose Up

-- Outcomes (the outcome column; the other columns are NULL unless named):
--   created    the reservation p_id was made (r_id), with its audit event,
--              and the key holds p_status and p_body: k_status and k_body
--              are the answer as stored (k_body in jsonb's text form);
--   conflict   a confirmed reservation of the space overlaps (c_*: the
--              earliest such); nothing written but the key, whose answer
--              is cleared (status_code and body NULL) for the caller to
--              store the conflict's;
--   not_found  no live space of the tenant has that id; the key as for
--              conflict;
--   over       a new request whose range has ended by p_now (the caller
--              rolls back, so the key stays usable);
--   replay     the key was answered before for this fingerprint (k_*);
--   reused     the key was used for another fingerprint (the caller rolls
--              back).
--
-- Order and concurrency, as in book_reservation: the key is claimed first
-- with INSERT … ON CONFLICT DO NOTHING, which waits for a transaction
-- holding the same key to end; SELECT … FOR UPDATE then reads the
-- committed answer (each statement of a VOLATILE function takes a new
-- snapshot in READ COMMITTED) and keeps the pruner off the row. A key past
-- its expiry (judged at p_now) is taken over. Only then is the live space
-- locked FOR UPDATE. Locks are taken in one order, the key, then the
-- space; the pruner skips locked rows, so bookings do not deadlock one
-- another. The answer written with the claim is this transaction's own
-- until it commits: nobody reads it before the caller's COMMIT, which
-- follows only a booking made, or a refusal whose answer replaced it.
-- +goose StatementBegin
CREATE FUNCTION book_reservation_keyed(
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
    p_expires_at   timestamptz,
    p_status       integer,
    p_body         text,
    p_details      text,
    OUT outcome    text,
    OUT r_id       uuid,
    OUT c_id       uuid,
    OUT c_starts_at timestamptz,
    OUT c_ends_at  timestamptz,
    OUT k_status   integer,
    OUT k_body     text)
LANGUAGE plpgsql VOLATILE SECURITY INVOKER
AS $$
DECLARE
    v_tenant  uuid := public.app_tenant_id();
    v_during  tstzrange := pg_catalog.tstzrange(p_starts_at, p_ends_at, '[)');
    v_claimed boolean := false;
    v_live    boolean;
    k         record;
BEGIN
    IF v_tenant IS NULL THEN
        RAISE EXCEPTION 'book_reservation_keyed: no tenant is set for the transaction';
    END IF;
    IF p_key IS NULL OR p_status IS NULL OR p_body IS NULL THEN
        RAISE EXCEPTION 'book_reservation_keyed: a key and the answer to store with it are required';
    END IF;

    -- 1. Claim the key, with the answer to the booking about to be made.
    FOR attempt IN 1..3 LOOP
        INSERT INTO public.idempotency_keys AS i
               (tenant_id, principal_id, key, fingerprint, status_code, body, expires_at)
        VALUES (v_tenant, p_principal_id, p_key, p_fingerprint, p_status, p_body::jsonb, p_expires_at)
        ON CONFLICT DO NOTHING
        RETURNING i.status_code, i.body::text INTO k_status, k_body;
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
               SET fingerprint = p_fingerprint, status_code = p_status, body = p_body::jsonb,
                   created_at = pg_catalog.now(), expires_at = p_expires_at
             WHERE i.tenant_id = v_tenant AND i.principal_id = p_principal_id AND i.key = p_key
            RETURNING i.status_code, i.body::text INTO k_status, k_body;
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
            RAISE EXCEPTION 'book_reservation_keyed: idempotency key without an answer';
        END IF;
        outcome := 'replay';
        k_status := k.status_code;
        k_body := k.body;
        RETURN;
    END LOOP;
    IF NOT v_claimed THEN
        RAISE EXCEPTION 'book_reservation_keyed: the idempotency key keeps being deleted'
            USING ERRCODE = 'serialization_failure';
    END IF;

    -- A new request: a range that is over is refused (the caller rolls the
    -- claim back, so the key stays usable).
    IF p_ends_at <= p_now THEN
        outcome := 'over';
        k_status := NULL;
        k_body := NULL;
        RETURN;
    END IF;

    -- 2. Lock the live space, insert, audit: one statement, as in
    -- book_reservation, with created_at the caller's p_now (the answer
    -- already stored shows it) and the audit event's details as the caller
    -- wrote them (the space, the range and the key: what book_reservation
    -- builds here, without its formatting on every booking).
    FOR attempt IN 1..3 LOOP
        WITH space AS (
            SELECT s.id FROM public.spaces s
             WHERE s.tenant_id = v_tenant AND s.id = p_space_id AND s.deleted_at IS NULL
               FOR UPDATE
        ), made AS (
            INSERT INTO public.reservations AS x (tenant_id, id, space_id, during, request_id, created_by, created_at)
            SELECT v_tenant, p_id, space.id, v_during, p_key, p_created_by, p_now FROM space
            ON CONFLICT DO NOTHING
            RETURNING x.id
        ), audited AS (
            INSERT INTO public.audit_events (tenant_id, actor, action, target, details)
            SELECT v_tenant, p_actor, 'reservation.create', made.id::text, p_details::jsonb
              FROM made
        )
        SELECT f.live, m.id INTO v_live, r_id
          FROM (SELECT pg_catalog.count(*) > 0 AS live FROM space) f
          LEFT JOIN made m ON true;
        IF NOT v_live THEN
            outcome := 'not_found';
            EXIT;
        END IF;
        IF r_id IS NOT NULL THEN
            outcome := 'created';
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
            EXIT;
        END IF;
        -- The reservation in the way was cancelled between the insert and
        -- the look-up: try again.
    END LOOP;
    IF outcome IS NULL THEN
        RAISE EXCEPTION 'book_reservation_keyed: the conflicting reservation keeps changing'
            USING ERRCODE = 'serialization_failure';
    END IF;

    -- 3. A refusal: the answer claimed with the key was for a booking that
    -- was not made. Take it out; the caller stores the refusal's answer
    -- before it commits (a key committed without one fails every replay
    -- loudly instead of answering wrongly).
    UPDATE public.idempotency_keys i
       SET status_code = NULL, body = NULL
     WHERE i.tenant_id = v_tenant AND i.principal_id = p_principal_id AND i.key = p_key;
    k_status := NULL;
    k_body := NULL;
END
$$;
-- +goose StatementEnd

REVOKE ALL ON FUNCTION book_reservation_keyed(uuid, uuid, timestamptz, timestamptz, uuid, text, uuid, text, bytea, timestamptz, timestamptz, integer, text, text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION book_reservation_keyed(uuid, uuid, timestamptz, timestamptz, uuid, text, uuid, text, bytea, timestamptz, timestamptz, integer, text, text) TO park_app;

-- +goose Down
DROP FUNCTION book_reservation_keyed(uuid, uuid, timestamptz, timestamptz, uuid, text, uuid, text, bytea, timestamptz, timestamptz, integer, text, text);
