-- The audit log's durable half: one row per security decision (scan verdicts, quarantines,
-- scanner outages, limit hits, sandbox kills, settings that weaken security). Append-only:
-- the triggers below refuse UPDATE, DELETE and TRUNCATE from every writer, attachd included,
-- so a row once written says what was decided, when, and why, for as long as the table lives.
--
-- No foreign key to attachments: the history of an upload must outlive its row (cleanup
-- purges rows; the events of a purged upload stay). file_key is NULL for decisions about the
-- worker itself (its settings at start).

CREATE TABLE attachment_events (
    id         BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    at         TIMESTAMPTZ NOT NULL DEFAULT now(),
    file_key   TEXT,
    job_id     TEXT,
    -- sha256 of the bytes the decision was about, lowercase hex, when known.
    checksum   TEXT,
    -- A stable kebab-case name (`vscan-infected`, `quarantined`, …; see docs/SECURITY.md).
    decision   TEXT NOT NULL CONSTRAINT attachment_events_decision_kebab
               CHECK (decision ~ '^[a-z0-9]+(-[a-z0-9]+)*$'),
    reason     TEXT NOT NULL,
    -- Decision-specific facts: signature, quarantine key, tries, limit, …
    details    JSONB NOT NULL DEFAULT '{}'::jsonb
               CONSTRAINT attachment_events_details_object CHECK (jsonb_typeof(details) = 'object')
);

-- An upload's history, in order.
CREATE INDEX attachment_events_file_key_idx ON attachment_events (file_key, id);
-- Reviewing one kind of decision over time (every quarantine this week).
CREATE INDEX attachment_events_decision_at_idx ON attachment_events (decision, at);

-- SQLSTATE 'AT405' (a class of our own, as attachments' 'AT409').
CREATE FUNCTION attachment_events_append_only() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'append-only: attachment_events rows are never changed or removed (% refused)', TG_OP
        USING ERRCODE = 'AT405';
END;
$$;

CREATE TRIGGER attachment_events_no_update_or_delete
    BEFORE UPDATE OR DELETE ON attachment_events
    FOR EACH ROW EXECUTE FUNCTION attachment_events_append_only();

CREATE TRIGGER attachment_events_no_truncate
    BEFORE TRUNCATE ON attachment_events
    FOR EACH STATEMENT EXECUTE FUNCTION attachment_events_append_only();
