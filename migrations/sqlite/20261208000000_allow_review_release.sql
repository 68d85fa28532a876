-- The status rules, with one move added for review: a `quarantined` row may go back to
-- `uploaded` (to be processed again, every check included), but only once a reviewer's
-- `review-released` event about it was recorded after its latest `quarantined` event. So no
-- writer, attachd or another, takes an upload out of quarantine without an audited review.
-- Everything else as before: any move out of `deleted` is refused; out of `quarantined`,
-- only to `deleted` or (so released) to `uploaded`; out of `ready`, only to `deleted` or to a
-- claimed `processing`. attachd maps the message's 'status-conflict' prefix to its
-- `status-conflict` error code.
DROP TRIGGER attachments_status_guard;
CREATE TRIGGER attachments_status_guard
BEFORE UPDATE OF status ON attachments
FOR EACH ROW
WHEN NEW.status IS NOT OLD.status
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
              AND NOT (NEW.status = 'processing' AND NEW.claim_token IS NOT NULL)))
BEGIN
    SELECT RAISE(ABORT, 'status-conflict: a ready attachment may only move to deleted or be claimed for re-processing, a quarantined one only to deleted or, after a recorded review release, to uploaded, and a deleted one not at all');
END;
