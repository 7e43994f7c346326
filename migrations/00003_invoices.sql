-- Invoices: numbers assigned when a settlement run finalizes a billing
-- period, gapless per issuer and year (PREFIX-YYYY-NNNNNN), and the runs
-- themselves. Numbers are taken in the same transaction that finalizes the
-- period in the ledger, so a crash leaves the period either finalized with
-- every number assigned or open with none: no number is skipped or used twice.

-- +goose Up

-- The next number of each issuer (the seller's invoice prefix) and year (of
-- the issue date). A number is taken by incrementing the row, which also
-- locks it until the run commits.
CREATE TABLE invoice_counters (
    issuer text NOT NULL,
    year   int  NOT NULL CHECK (year BETWEEN 1900 AND 9999),
    next   int  NOT NULL CHECK (next >= 1),
    PRIMARY KEY (issuer, year)
);

-- One settlement run that finalized a period (previews are not recorded).
CREATE TABLE settlement_runs (
    id           bigserial   PRIMARY KEY,
    period       text        NOT NULL UNIQUE CHECK (period ~ '^[0-9]{4}-(0[1-9]|1[0-2])$'),
    finalized_by text        NOT NULL,
    finalized_at timestamptz NOT NULL DEFAULT now(),
    invoices     int         NOT NULL,
    total_usd    numeric     NOT NULL
);

-- Every invoice issued: its number, what it bills and its total, so a re-run
-- of a finalized period reproduces the same documents and issues nothing new.
CREATE TABLE invoices (
    invoice_id  text    PRIMARY KEY,
    run_id      bigint  NOT NULL REFERENCES settlement_runs,
    period      text    NOT NULL,
    contract_id text    NOT NULL,
    issuer      text    NOT NULL,
    buyer       text    NOT NULL,
    year        int     NOT NULL,
    seq         int     NOT NULL CHECK (seq >= 1),
    total_usd   numeric NOT NULL,
    UNIQUE (period, contract_id),
    UNIQUE (issuer, year, seq)
);

-- +goose StatementBegin
CREATE FUNCTION invoices_are_immutable() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'issued invoices are never changed or deleted (% on %)', TG_OP, TG_TABLE_NAME
        USING ERRCODE = 'restrict_violation';
END
$$;
-- +goose StatementEnd

CREATE TRIGGER invoices_are_immutable BEFORE UPDATE OR DELETE OR TRUNCATE ON invoices
    FOR EACH STATEMENT EXECUTE FUNCTION invoices_are_immutable();
CREATE TRIGGER settlement_runs_are_immutable BEFORE UPDATE OR DELETE OR TRUNCATE ON settlement_runs
    FOR EACH STATEMENT EXECUTE FUNCTION invoices_are_immutable();

-- Settlement numbers and records runs; everyone else may read.
GRANT SELECT ON invoice_counters, settlement_runs, invoices TO offtake_writer, offtake_reader, offtake_settlement;
GRANT INSERT, UPDATE ON invoice_counters TO offtake_settlement;
GRANT INSERT ON settlement_runs, invoices TO offtake_settlement;
GRANT USAGE ON SEQUENCE settlement_runs_id_seq TO offtake_settlement;

-- +goose Down
DROP TABLE invoices;
DROP TABLE settlement_runs;
DROP TABLE invoice_counters;
DROP FUNCTION invoices_are_immutable();
