-- The ledger: a double-entry journal of transfers between accounts, plus what
-- a restarted engine needs to carry on exactly where it stopped (booked
-- intervals, market prices, consumer offsets). Only ledger/postgres writes
-- these tables, through one function that wraps every write in a transaction.

-- +goose Up

-- Units are declared here and in ledger.Unit.Scale; ledger/postgres refuses to
-- open a database whose scales disagree with the code, so the two cannot drift
-- apart silently. A scale is the number of decimal places kept exactly: USD
-- needs 12 because MWh (6 places) × $/MWh (6 places) must stay exact until an
-- invoice rounds it by a named rule.
CREATE TABLE units (
    code  text PRIMARY KEY,
    scale int  NOT NULL CHECK (scale >= 0)
);

INSERT INTO units (code, scale) VALUES ('MWh', 6), ('USD', 12);

-- One account per party and kind. The balance is kept beside the journal so
-- positions need not sum the whole history; it is credits minus debits, and
-- `offtake ledger verify` recomputes it from the transfers. updated_batch
-- tells which batch last moved it, for tracing a wrong balance to a batch.
CREATE TABLE accounts (
    id            text    PRIMARY KEY,
    party         text    NOT NULL,
    kind          text    NOT NULL,
    unit          text    NOT NULL REFERENCES units,
    balance       numeric NOT NULL DEFAULT 0,
    updated_batch bigint,
    -- The id is derived, never chosen: "party:kind" (ledger.AccountID).
    CHECK (id = party || ':' || kind),
    -- Lets transfers reference (account, unit) pairs, so the database itself
    -- refuses a transfer whose accounts hold another unit than the one it moves.
    UNIQUE (id, unit)
);

-- A batch is one ledger transaction: the unit of atomicity between the
-- transfers, the intervals they book and the consumer offsets that produced
-- them. transfers counts the rows the batch actually inserted, so a replayed
-- batch shows up as a batch of 0.
CREATE TABLE batches (
    id          bigserial   PRIMARY KEY,
    source      text        NOT NULL,
    recorded_at timestamptz NOT NULL DEFAULT now(),
    transfers   int         NOT NULL DEFAULT 0
);

-- The journal. A transfer is never changed or deleted (a trigger below refuses
-- it); corrections are new transfers. The id is derived from what the
-- transfer records (ledger.TransferID), so booking the same allocation twice
-- inserts nothing. Everything after leg is the audit trail: where the amount
-- came from (interval, contract version, price and its origin, readings).
-- Optional facts are NULL rather than zero values: a grid leg has no contract,
-- an energy leg has no price.
CREATE TABLE transfers (
    id                uuid        PRIMARY KEY,
    batch_id          bigint      NOT NULL REFERENCES batches,
    debit_account     text        NOT NULL,
    credit_account    text        NOT NULL,
    unit              text        NOT NULL,
    -- Exact decimals, never floats. Direction lives in debit/credit, so an
    -- amount is always positive (a negative market price swaps the accounts).
    amount            numeric     NOT NULL CHECK (amount > 0),
    leg               text        NOT NULL,
    site              text        NOT NULL,
    interval_start    timestamptz NOT NULL,
    interval_end      timestamptz NOT NULL,
    -- Billing period YYYY-MM in the site's market time, fixed when booked so
    -- settlement never has to re-derive time zones to find a month's rows.
    period            text        NOT NULL,
    revision          int         NOT NULL,
    contract_id       text,
    contract_version  int,
    quantity_mwh      numeric,
    price_usd_per_mwh numeric,
    price_node        text,
    price_market      text,
    price_start       timestamptz,
    price_carried     boolean,
    readings          jsonb,
    recorded_at       timestamptz NOT NULL DEFAULT now(),
    -- Both accounts must hold the transfer's unit: debits equal credits per
    -- unit only if no transfer can cross units.
    FOREIGN KEY (debit_account, unit) REFERENCES accounts (id, unit),
    FOREIGN KEY (credit_account, unit) REFERENCES accounts (id, unit),
    CHECK (debit_account <> credit_account),
    CHECK (interval_end > interval_start)
);

-- Settlement reads a month of one contract by leg.
CREATE INDEX transfers_period_contract_leg ON transfers (period, contract_id, leg);
-- Trace and re-match read one site's intervals.
CREATE INDEX transfers_site_interval ON transfers (site, interval_start);

-- +goose StatementBegin
CREATE FUNCTION transfers_are_immutable() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'ledger transfers are never changed or deleted; book a correction instead (% on transfers)', TG_OP
        USING ERRCODE = 'restrict_violation';
END
$$;
-- +goose StatementEnd

-- The audit trail is only worth something if nobody, not even a careless
-- script, can rewrite history in place.
CREATE TRIGGER transfers_are_immutable
    BEFORE UPDATE OR DELETE OR TRUNCATE ON transfers
    FOR EACH STATEMENT EXECUTE FUNCTION transfers_are_immutable();

-- What each allocated interval looked like when booked, so a restarted engine
-- knows which intervals it already booked and does not allocate them again,
-- and so statements can show gross/net/export/import beside the money.
-- A re-match books a new revision; the first record of a revision stands.
CREATE TABLE intervals (
    site           text        NOT NULL,
    interval_start timestamptz NOT NULL,
    interval_end   timestamptz NOT NULL,
    revision       int         NOT NULL,
    period         text        NOT NULL,
    gross_mwh      numeric     NOT NULL,
    net_mwh        numeric     NOT NULL,
    export_mwh     numeric     NOT NULL,
    import_mwh     numeric     NOT NULL,
    -- Some reading behind the interval was not an actual meter read, so a
    -- later version of it may restate the interval.
    estimated      boolean     NOT NULL,
    batch_id       bigint      NOT NULL REFERENCES batches,
    PRIMARY KEY (site, interval_start, revision)
);

-- Market prices the engine valued legs at, kept for trace (a transfer names
-- its price's node, market and start) and so a restarted engine can carry a
-- price forward without re-reading the whole price topic. A restated price
-- replaces the stored one; the transfers keep the price they were booked at.
CREATE TABLE prices (
    node           text        NOT NULL,
    market         text        NOT NULL,
    interval_start timestamptz NOT NULL,
    interval_end   timestamptz NOT NULL,
    usd_per_mwh    numeric     NOT NULL,
    PRIMARY KEY (node, market, interval_start)
);

-- Kafka offsets stored in the same transaction as the ledger writes they
-- produced: exactly-once effect. next_offset only moves forward (the writer
-- takes the greatest), so a late duplicate batch can never rewind a consumer.
CREATE TABLE consumer_offsets (
    consumer    text        NOT NULL,
    topic       text        NOT NULL,
    partition   int         NOT NULL,
    next_offset bigint      NOT NULL CHECK (next_offset >= 0),
    batch_id    bigint      REFERENCES batches,
    updated_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (consumer, topic, partition)
);

-- +goose Down
DROP TABLE consumer_offsets;
DROP TABLE prices;
DROP TABLE intervals;
DROP TABLE transfers;
DROP FUNCTION transfers_are_immutable();
DROP TABLE batches;
DROP TABLE accounts;
DROP TABLE units;
