-- Which guest releases processed an upload, so that a bad release can be traced to the uploads
-- it touched and those processed again (`attachd requeue --guest-digest`).
--
-- guests: [{name, version, sha256}, ...], the releases that last ran the upload's steps (sha256
-- of the wasm, lowercase hex). NULL until the guests first ran for the upload (and for rows
-- older than this column).
ALTER TABLE attachments
    ADD COLUMN guests JSONB
    CONSTRAINT attachments_guests_array CHECK (guests IS NULL OR jsonb_typeof(guests) = 'array');

-- The status rules, with one move added for re-processing: a `ready` row may go back to
-- `processing`, but only as a claim does it (with a lease: a token and an expiry), which attachd
-- takes only for a row whose recorded guests a re-process job names. `failed` already moves
-- anywhere (a failed upload may be retried). Still refused, whoever writes: any move out of
-- `deleted`; out of `quarantined` except to `deleted`; out of `ready` except to `deleted` or
-- to a claimed `processing`. The SQLSTATE 'AT409' is what attachd maps to `status-conflict`.
-- Also keeps updated_at, unless the statement set it itself.
CREATE OR REPLACE FUNCTION attachments_before_update() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF NEW.status IS DISTINCT FROM OLD.status
       AND (OLD.status = 'deleted'
            OR (OLD.status = 'quarantined' AND NEW.status <> 'deleted')
            OR (OLD.status = 'ready'
                AND NEW.status <> 'deleted'
                AND NOT (NEW.status = 'processing' AND NEW.claim_token IS NOT NULL))) THEN
        RAISE EXCEPTION 'status-conflict: attachment % may not move from % to %',
            OLD.file_key, OLD.status, NEW.status
            USING ERRCODE = 'AT409';
    END IF;
    IF NEW.updated_at IS NOT DISTINCT FROM OLD.updated_at THEN
        NEW.updated_at := now();
    END IF;
    RETURN NEW;
END;
$$;
