-- One row per uploaded file, keyed by its storage key. The status rules are enforced here as
-- well as in attachd, so that no writer (a late duplicate job, a second worker, an operator's
-- UPDATE) can move a finished row back.

CREATE TABLE attachments (
    id            BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    file_key      TEXT NOT NULL UNIQUE,
    -- What the uploader declared; sniffed_mime is what the probe found in the bytes.
    mime_type     TEXT NOT NULL,
    sniffed_mime  TEXT,
    size          BIGINT NOT NULL,
    -- sha256 of the original, lowercase hex.
    checksum      TEXT,
    status        TEXT NOT NULL DEFAULT 'uploaded'
                  CONSTRAINT attachments_status_known
                  CHECK (status IN ('uploaded', 'processing', 'ready', 'failed', 'quarantined', 'deleted')),
    -- [{name, key, format, width, height, bytes}, ...]
    variants      JSONB NOT NULL DEFAULT '[]'::jsonb
                  CONSTRAINT attachments_variants_array CHECK (jsonb_typeof(variants) = 'array'),
    width         INTEGER,
    height        INTEGER,
    -- ThumbHash of the image (base64): a blurred stand-in clients show while loading.
    placeholder   TEXT,
    error_code    TEXT,
    error_message TEXT,
    attempts      INTEGER NOT NULL DEFAULT 0 CONSTRAINT attachments_attempts_nonnegative CHECK (attempts >= 0),
    scan_verdict  TEXT,
    scan_findings JSONB,
    -- The processing lease: the worker holding claim_token may publish until claimed_until;
    -- after that another worker may take the row over (the first one crashed or hung).
    claim_token   TEXT,
    claimed_until TIMESTAMPTZ,
    created_at    TIMESTAMPTZ NOT NULL DEFAULT now(),
    updated_at    TIMESTAMPTZ NOT NULL DEFAULT now(),
    processed_at  TIMESTAMPTZ,
    -- A lease is a token and an expiry together, and only a row being processed holds one.
    CONSTRAINT attachments_claim_whole CHECK ((claim_token IS NULL) = (claimed_until IS NULL)),
    CONSTRAINT attachments_claim_only_processing CHECK (claim_token IS NULL OR status = 'processing')
);

-- Orphan cleanup: status = 'uploaded' AND created_at < cutoff, oldest first.
CREATE INDEX attachments_status_created_at_idx ON attachments (status, created_at);
-- Finishing a crashed cleanup: status = 'deleted' AND updated_at < cutoff.
CREATE INDEX attachments_status_updated_at_idx ON attachments (status, updated_at);

-- Refuses a status change out of ready or quarantined (except to deleted) and any status
-- change out of deleted; the SQLSTATE 'AT409' is what attachd maps to `status-conflict`.
-- Also keeps updated_at, unless the statement set it itself.
CREATE FUNCTION attachments_before_update() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF NEW.status IS DISTINCT FROM OLD.status
       AND (OLD.status = 'deleted'
            OR (OLD.status IN ('ready', 'quarantined') AND NEW.status <> 'deleted')) THEN
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

CREATE TRIGGER attachments_before_update
    BEFORE UPDATE ON attachments
    FOR EACH ROW EXECUTE FUNCTION attachments_before_update();
