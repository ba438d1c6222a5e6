-- Which account sent each pending envelope, so that one sender's share of
-- a mailbox and an account's storage across all mailboxes are bounded
-- (doc/API.md §4.1). '' charges nobody: envelopes stored before this
-- version, and in-process sends that name no account.
ALTER TABLE envelopes ADD COLUMN sender TEXT NOT NULL DEFAULT '';

-- What one sender's pending envelopes hold in one mailbox, kept in step
-- with the envelopes table by append, ack and expiry (all of which hold
-- the mailbox's row lock). A row exists while the sender has envelopes
-- there.
CREATE TABLE mailbox_senders (
    mailbox TEXT    NOT NULL REFERENCES mailboxes (mailbox) ON DELETE CASCADE,
    sender  TEXT    NOT NULL,
    count   BIGINT  NOT NULL,
    bytes   BIGINT  NOT NULL,
    PRIMARY KEY (mailbox, sender)
);

-- What one account's pending envelopes hold across every mailbox. Not tied
-- to the accounts table: what a deleted account sent stays deliverable,
-- and charged, until it is acknowledged or expires.
CREATE TABLE account_usage (
    account TEXT    PRIMARY KEY,
    count   BIGINT  NOT NULL DEFAULT 0,
    bytes   BIGINT  NOT NULL DEFAULT 0
);

-- A mailbox deleted with its device takes its envelopes with it (cascade):
-- release what they held from their senders' budgets.
CREATE FUNCTION mailboxes_release_senders() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    UPDATE account_usage a
       SET count = a.count - s.count, bytes = a.bytes - s.bytes
      FROM mailbox_senders s
     WHERE s.mailbox = OLD.mailbox AND s.sender = a.account;
    RETURN OLD;
END
$$;
CREATE TRIGGER mailboxes_release_senders BEFORE DELETE ON mailboxes
    FOR EACH ROW EXECUTE FUNCTION mailboxes_release_senders();
