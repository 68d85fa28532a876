-- The status rules, with one move added for review: a `quarantined` row may go back to
-- `uploaded` (to be processed again, every check included), but only once a reviewer's
-- `review-released` event about it was recorded after its latest `quarantined` event. So no
-- writer, attachd or another, takes an upload out of quarantine without an audited review.
-- Everything else as before: any move out of `deleted` is refused; out of `quarantined`,
-- only to `deleted` or (so released) to `uploaded`; out of `ready`, only to `deleted` or to a
-- claimed `processing`. SQLSTATE 'AT409' is what attachd maps to `status-conflict`.
CREATE OR REPLACE FUNCTION attachments_before_update() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF NEW.status IS DISTINCT FROM OLD.status
       AND (OLD.status = 'deleted'
            OR (OLD.status = 'quarantined'
                AND NEW.status <> 'deleted'
                AND NOT (NEW.status = 'uploaded' AND EXISTS (
                    SELECT 1 FROM attachment_events r
                    WHERE r.file_key = OLD.file_key AND r.decision = 'review-released'
                      AND r.id > (SELECT COALESCE(MAX(q.id), 0) FROM attachment_events q
                                  WHERE q.file_key = OLD.file_key
                                    AND q.decision = 'quarantined'))))
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
