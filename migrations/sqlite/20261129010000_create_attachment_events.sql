-- The audit log's durable half: one row per security decision (scan verdicts, quarantines,
-- scanner outages, limit hits, sandbox kills, settings that weaken security). Append-only:
-- the triggers below refuse UPDATE and DELETE from every writer, attachd included, so a row
-- once written says what was decided, when, and why, for as long as the table lives.
--
-- No foreign key to attachments: the history of an upload must outlive its row (cleanup
-- purges rows; the events of a purged upload stay). file_key is NULL for decisions about the
-- worker itself (its settings at start). Times use the attachments table's fixed format.

CREATE TABLE attachment_events (
    id         INTEGER PRIMARY KEY AUTOINCREMENT, -- never reuses an id
    at         TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now')) CHECK (at GLOB
               '[0-9][0-9][0-9][0-9]-[0-9][0-9]-[0-9][0-9]T[0-9][0-9]:[0-9][0-9]:[0-9][0-9].[0-9][0-9][0-9]Z'),
    file_key   TEXT,
    job_id     TEXT,
    -- sha256 of the bytes the decision was about, lowercase hex, when known.
    checksum   TEXT,
    -- A stable kebab-case name (`vscan-infected`, `quarantined`, …; see docs/SECURITY.md).
    decision   TEXT NOT NULL CHECK (decision <> '' AND decision NOT GLOB '*[^a-z0-9-]*'),
    reason     TEXT NOT NULL,
    -- Decision-specific facts: signature, quarantine key, tries, limit, …
    details    TEXT NOT NULL DEFAULT '{}' CHECK (json_valid(details) AND json_type(details) = 'object')
) STRICT;

-- An upload's history, in order.
CREATE INDEX attachment_events_file_key_idx ON attachment_events (file_key, id);
-- Reviewing one kind of decision over time (every quarantine this week).
CREATE INDEX attachment_events_decision_at_idx ON attachment_events (decision, at);

CREATE TRIGGER attachment_events_no_update
BEFORE UPDATE ON attachment_events
BEGIN
    SELECT RAISE(ABORT, 'append-only: attachment_events rows are never changed or removed (UPDATE refused)');
END;

CREATE TRIGGER attachment_events_no_delete
BEFORE DELETE ON attachment_events
BEGIN
    SELECT RAISE(ABORT, 'append-only: attachment_events rows are never changed or removed (DELETE refused)');
END;
