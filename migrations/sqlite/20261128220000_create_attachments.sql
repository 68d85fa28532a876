-- One row per uploaded file, keyed by its storage key. The status rules are enforced here as
-- well as in attachd, so that no writer (a late duplicate job, a second worker, an operator's
-- UPDATE) can move a finished row back.
--
-- Timestamps are TEXT in one fixed format, 'YYYY-MM-DDTHH:MM:SS.SSSZ' (UTC, milliseconds),
-- written by strftime('%Y-%m-%dT%H:%M:%fZ', 'now') or by attachd in the same format, so that
-- comparing the strings compares the instants. The GLOB checks hold every writer to it.
-- STRICT: a value of the wrong type is an error, not silently stored.

CREATE TABLE attachments (
    id            INTEGER PRIMARY KEY AUTOINCREMENT, -- never reuses a purged row's id
    file_key      TEXT NOT NULL UNIQUE,
    -- What the uploader declared; sniffed_mime is what the probe found in the bytes.
    mime_type     TEXT NOT NULL,
    sniffed_mime  TEXT,
    size          INTEGER NOT NULL,
    -- sha256 of the original, lowercase hex.
    checksum      TEXT,
    status        TEXT NOT NULL DEFAULT 'uploaded'
                  CHECK (status IN ('uploaded', 'processing', 'ready', 'failed', 'quarantined', 'deleted')),
    -- [{name, key, format, width, height, bytes}, ...]
    variants      TEXT NOT NULL DEFAULT '[]'
                  CHECK (json_valid(variants) AND json_type(variants) = 'array'),
    width         INTEGER,
    height        INTEGER,
    -- ThumbHash of the image (base64): a blurred stand-in clients show while loading.
    placeholder   TEXT,
    error_code    TEXT,
    error_message TEXT,
    attempts      INTEGER NOT NULL DEFAULT 0 CHECK (attempts >= 0),
    scan_verdict  TEXT,
    scan_findings TEXT CHECK (scan_findings IS NULL OR json_valid(scan_findings)),
    -- The processing lease: the worker holding claim_token may publish until claimed_until;
    -- after that another worker may take the row over (the first one crashed or hung).
    claim_token   TEXT,
    claimed_until TEXT CHECK (claimed_until IS NULL OR claimed_until GLOB
                  '[0-9][0-9][0-9][0-9]-[0-9][0-9]-[0-9][0-9]T[0-9][0-9]:[0-9][0-9]:[0-9][0-9].[0-9][0-9][0-9]Z'),
    created_at    TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now')) CHECK (created_at GLOB
                  '[0-9][0-9][0-9][0-9]-[0-9][0-9]-[0-9][0-9]T[0-9][0-9]:[0-9][0-9]:[0-9][0-9].[0-9][0-9][0-9]Z'),
    updated_at    TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now')) CHECK (updated_at GLOB
                  '[0-9][0-9][0-9][0-9]-[0-9][0-9]-[0-9][0-9]T[0-9][0-9]:[0-9][0-9]:[0-9][0-9].[0-9][0-9][0-9]Z'),
    processed_at  TEXT CHECK (processed_at IS NULL OR processed_at GLOB
                  '[0-9][0-9][0-9][0-9]-[0-9][0-9]-[0-9][0-9]T[0-9][0-9]:[0-9][0-9]:[0-9][0-9].[0-9][0-9][0-9]Z'),
    -- A lease is a token and an expiry together, and only a row being processed holds one.
    CHECK ((claim_token IS NULL) = (claimed_until IS NULL)),
    CHECK (claim_token IS NULL OR status = 'processing')
) STRICT;

-- Orphan cleanup: status = 'uploaded' AND created_at < cutoff, oldest first.
CREATE INDEX attachments_status_created_at_idx ON attachments (status, created_at);
-- Finishing a crashed cleanup: status = 'deleted' AND updated_at < cutoff.
CREATE INDEX attachments_status_updated_at_idx ON attachments (status, updated_at);

-- Refuses a status change out of ready or quarantined (except to deleted) and any status
-- change out of deleted. attachd maps the message's 'status-conflict' prefix to its
-- `status-conflict` error code.
CREATE TRIGGER attachments_status_guard
BEFORE UPDATE OF status ON attachments
FOR EACH ROW
WHEN NEW.status IS NOT OLD.status
     AND (OLD.status = 'deleted'
          OR (OLD.status IN ('ready', 'quarantined') AND NEW.status <> 'deleted'))
BEGIN
    SELECT RAISE(ABORT, 'status-conflict: a ready or quarantined attachment may only move to deleted, and a deleted one not at all');
END;

-- Keeps updated_at for writers that do not set it themselves (attachd's own statements set it,
-- because RETURNING does not see what an AFTER trigger writes). Listing every column but
-- updated_at means this trigger's own UPDATE cannot fire it again.
CREATE TRIGGER attachments_touch_updated_at
AFTER UPDATE OF file_key, mime_type, sniffed_mime, size, checksum, status, variants, width,
    height, placeholder, error_code, error_message, attempts, scan_verdict, scan_findings, claim_token,
    claimed_until, created_at, processed_at ON attachments
FOR EACH ROW
WHEN NEW.updated_at IS OLD.updated_at
BEGIN
    UPDATE attachments SET updated_at = strftime('%Y-%m-%dT%H:%M:%fZ', 'now') WHERE id = NEW.id;
END;
