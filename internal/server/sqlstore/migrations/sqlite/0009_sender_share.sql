-- Which account sent each pending envelope, so that one sender's share of
-- a mailbox and an account's storage across all mailboxes are bounded
-- (doc/API.md §4.1). '' charges nobody: envelopes stored before this
-- version, and in-process sends that name no account.
ALTER TABLE envelopes ADD COLUMN sender TEXT NOT NULL DEFAULT '';

-- What one sender's pending envelopes hold in one mailbox, kept in step
-- with the envelopes table by append, ack and expiry. A row exists while
-- the sender has envelopes there. WITHOUT ROWID (one B-tree instead of a
-- table and its key's index) here and below: every append writes these
-- rows.
CREATE TABLE mailbox_senders (
    mailbox TEXT    NOT NULL REFERENCES mailboxes (mailbox) ON DELETE CASCADE,
    sender  TEXT    NOT NULL,
    count   INTEGER NOT NULL,
    bytes   INTEGER NOT NULL,
    PRIMARY KEY (mailbox, sender)
) WITHOUT ROWID;

-- What one account's pending envelopes hold across every mailbox. Not tied
-- to the accounts table: what a deleted account sent stays deliverable,
-- and charged, until it is acknowledged or expires.
CREATE TABLE account_usage (
    account TEXT    PRIMARY KEY,
    count   INTEGER NOT NULL DEFAULT 0,
    bytes   INTEGER NOT NULL DEFAULT 0
) WITHOUT ROWID;

-- A mailbox deleted with its device takes its envelopes with it (cascade):
-- release what they held from their senders' budgets.
CREATE TRIGGER mailboxes_release_senders BEFORE DELETE ON mailboxes
BEGIN
    UPDATE account_usage
       SET count = count - (SELECT s.count FROM mailbox_senders s WHERE s.mailbox = OLD.mailbox AND s.sender = account_usage.account),
           bytes = bytes - (SELECT s.bytes FROM mailbox_senders s WHERE s.mailbox = OLD.mailbox AND s.sender = account_usage.account)
     WHERE account IN (SELECT sender FROM mailbox_senders WHERE mailbox = OLD.mailbox);
END;
