-- Which guest releases processed an upload, so that a bad release can be traced to the uploads
-- it touched and those processed again (`attachd requeue --guest-digest`).
--
-- guests: a JSON array [{name, version, sha256}, ...], the releases that last ran the upload's
-- steps (sha256 of the wasm, lowercase hex). NULL until the guests first ran for the upload
-- (and for rows older than this column).
ALTER TABLE attachments
    ADD COLUMN guests TEXT
    CHECK (guests IS NULL OR (json_valid(guests) AND json_type(guests) = 'array'));

-- The status rules, with one move added for re-processing: a `ready` row may go back to
-- `processing`, but only as a claim does it (with a lease: a token and an expiry), which attachd
-- takes only for a row whose recorded guests a re-process job names. `failed` already moves
-- anywhere (a failed upload may be retried). Still refused, whoever writes: any move out of
-- `deleted`; out of `quarantined` except to `deleted`; out of `ready` except to `deleted` or
-- to a claimed `processing`. attachd maps the message's 'status-conflict' prefix to its
-- `status-conflict` error code.
DROP TRIGGER attachments_status_guard;
CREATE TRIGGER attachments_status_guard
BEFORE UPDATE OF status ON attachments
FOR EACH ROW
WHEN NEW.status IS NOT OLD.status
     AND (OLD.status = 'deleted'
          OR (OLD.status = 'quarantined' AND NEW.status <> 'deleted')
          OR (OLD.status = 'ready'
              AND NEW.status <> 'deleted'
              AND NOT (NEW.status = 'processing' AND NEW.claim_token IS NOT NULL)))
BEGIN
    SELECT RAISE(ABORT, 'status-conflict: a ready attachment may only move to deleted or be claimed for re-processing, a quarantined one only to deleted, and a deleted one not at all');
END;

-- The updated_at keeper again, its column list now with guests (it lists every column but
-- updated_at, so that its own UPDATE cannot fire it again).
DROP TRIGGER attachments_touch_updated_at;
CREATE TRIGGER attachments_touch_updated_at
AFTER UPDATE OF file_key, mime_type, sniffed_mime, size, checksum, status, variants, width,
    height, placeholder, error_code, error_message, attempts, scan_verdict, scan_findings, claim_token,
    claimed_until, created_at, processed_at, guests ON attachments
FOR EACH ROW
WHEN NEW.updated_at IS OLD.updated_at
BEGIN
    UPDATE attachments SET updated_at = strftime('%Y-%m-%dT%H:%M:%fZ', 'now') WHERE id = NEW.id;
END;
