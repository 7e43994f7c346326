-- The ledger made self-defending and partitioned: emissions as a third unit,
-- the unit of each account kind declared once, billing periods that can be
-- finalized (and then refuse transfers), reversals, the audit fields a
-- transfer was missing (time-of-use band, how its price was formed), an
-- offset history, roles, and the journal partitioned by billing period.
--
-- 00001 is left as it was applied; this file rebuilds transfers as a
-- partitioned table and moves the rows across, so a database migrated before
-- keeps its history.

-- +goose Up

-- Emissions, kept to the gram.
INSERT INTO units (code, scale) VALUES ('tCO2e', 6);

-- What each account kind holds, declared once (and in ledger.UnitOf):
--   energy      MWh    credits received, debits delivered
--   settlement  USD    positive balance receivable, negative payable
--   shortfall   MWh    memo: firm volume a seller owed and did not deliver
--   emissions   tCO2e  emissions attributed to the party
-- An account's (kind, unit) must be one of these pairs, so no account can
-- hold another unit than its kind's.
CREATE TABLE account_kinds (
    kind        text PRIMARY KEY,
    unit        text NOT NULL REFERENCES units,
    description text NOT NULL,
    UNIQUE (kind, unit)
);
INSERT INTO account_kinds (kind, unit, description) VALUES
    ('energy',     'MWh',   'energy: credits received, debits delivered'),
    ('settlement', 'USD',   'money: a positive balance is receivable, a negative one payable'),
    ('shortfall',  'MWh',   'memo: firm volume owed by a seller and not delivered'),
    ('emissions',  'tCO2e', 'emissions attributed to the party');
ALTER TABLE accounts ADD CONSTRAINT accounts_kind_unit
    FOREIGN KEY (kind, unit) REFERENCES account_kinds (kind, unit);

-- Billing periods (a month in the market's time zone, as transfers.period).
-- A row appears when the first transfer of the period is booked (with the
-- period's partition of transfers) or when the period is finalized. Once
-- finalized_at is set, the period refuses transfers and stays finalized.
CREATE TABLE periods (
    period       text        PRIMARY KEY CHECK (period ~ '^[0-9]{4}-(0[1-9]|1[0-2])$'),
    opened_at    timestamptz NOT NULL DEFAULT now(),
    finalized_at timestamptz,
    finalized_by text,
    CHECK ((finalized_at IS NULL) = (finalized_by IS NULL))
);

-- +goose StatementBegin
CREATE FUNCTION periods_stay_finalized() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'DELETE' THEN
        RAISE EXCEPTION 'billing period % cannot be deleted', OLD.period USING ERRCODE = 'restrict_violation';
    END IF;
    IF OLD.finalized_at IS NOT NULL THEN
        RAISE EXCEPTION 'billing period % was finalized by % at %: it cannot be changed', OLD.period, OLD.finalized_by, OLD.finalized_at
            USING ERRCODE = 'restrict_violation';
    END IF;
    RETURN NEW;
END
$$;
-- +goose StatementEnd

CREATE TRIGGER periods_stay_finalized BEFORE UPDATE OR DELETE ON periods
    FOR EACH ROW EXECUTE FUNCTION periods_stay_finalized();

-- The journal, partitioned by billing period: one partition a month, so a
-- month's settlement reads one partition and a year of hundreds of sites
-- never makes one index deep. A unique key of a partitioned table must hold
-- the partition key, hence (id, period): the id is derived from the site and
-- the interval, and so is the period, so an id has one period. Verify checks
-- ids are unique across partitions.
--
-- The write path pays for a rule only where it must (measured: a statement
-- trigger over a transition table, or a foreign key checked row by row,
-- costs more than the primary key):
--   * both accounts hold the transfer's unit: a CHECK on the kind their id
--     ends in (ledger_account_unit), no lookup;
--   * the period is open: a finalized period's partition carries a
--     CHECK (false) constraint added by ledger_finalize_period, so an open
--     period checks nothing at all;
--   * a reversal cancels what it names: a row trigger that fires only for
--     reversals (WHEN reverses IS NOT NULL).
-- That the accounts exist is Verify's check (Commit always creates them).
-- The unit an account holds, from the kind its id ends in: account_kinds
-- as an expression, so a CHECK can use it (keep the two in step). Not
-- STRICT, so PostgreSQL inlines it (measured: 4× cheaper than a call).
CREATE FUNCTION ledger_account_unit(account text) RETURNS text
LANGUAGE sql IMMUTABLE PARALLEL SAFE
RETURN CASE
    WHEN account LIKE '%:energy' THEN 'MWh'
    WHEN account LIKE '%:settlement' THEN 'USD'
    WHEN account LIKE '%:shortfall' THEN 'MWh'
    WHEN account LIKE '%:emissions' THEN 'tCO2e'
END;

ALTER TABLE transfers RENAME TO transfers_v1;
ALTER INDEX transfers_pkey RENAME TO transfers_v1_pkey;
ALTER INDEX transfers_period_contract_leg RENAME TO transfers_v1_period_contract_leg;
ALTER INDEX transfers_site_interval RENAME TO transfers_v1_site_interval;

CREATE TABLE transfers (
    id                uuid        NOT NULL,
    batch_id          bigint      NOT NULL,
    debit_account     text        NOT NULL,
    credit_account    text        NOT NULL,
    unit              text        NOT NULL,
    amount            numeric     NOT NULL CHECK (amount > 0),
    leg               text        NOT NULL,
    -- Byte order ("C") for the keys the partitions and indexes compare on
    -- every insert: cheaper than the locale's collation, and ids sort the
    -- same everywhere.
    site              text        COLLATE "C" NOT NULL,
    interval_start    timestamptz NOT NULL,
    interval_end      timestamptz NOT NULL,
    period            text        COLLATE "C" NOT NULL,
    revision          int         NOT NULL,
    contract_id       text,
    contract_version  int,
    quantity_mwh      numeric,
    price_usd_per_mwh numeric,
    price_node        text,
    price_market      text,
    price_start       timestamptz,
    price_carried     boolean,
    -- Time-of-use band of a contract payment ('peak', 'off_peak', …).
    band              text,
    -- How the price was formed: 'fixed', 'escalated year 3', a gas formula…
    price_basis       text,
    readings          jsonb,
    -- The transfer this one cancels: same unit and amount, accounts swapped.
    reverses          uuid,
    -- Business time is the interval; this is when the ledger recorded it.
    recorded_at       timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (id, period),
    CHECK (debit_account <> credit_account),
    CONSTRAINT transfers_accounts_hold_unit
        CHECK (ledger_account_unit(debit_account) = unit AND ledger_account_unit(credit_account) = unit),
    CHECK (interval_end > interval_start),
    CHECK (reverses <> id)
) PARTITION BY LIST (period);

-- Entries and re-matching read one site's intervals. Rows arrive in
-- interval order, so a BRIN index finds an interval's block ranges (all
-- sites' rows of that time, then filtered by site) for almost nothing on the
-- write path; a btree on (site, interval_start) cost about a tenth of Commit's
-- throughput (bench ledger).
CREATE INDEX transfers_interval_brin ON transfers USING brin (interval_start)
    WITH (pages_per_range = 16, autosummarize = on);
-- Trace finds what reversed a transfer; almost no row is a reversal.
CREATE INDEX transfers_reverses ON transfers (reverses) WHERE reverses IS NOT NULL;

-- +goose StatementBegin
CREATE OR REPLACE FUNCTION transfers_are_immutable() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'ledger transfers are never changed or deleted; book a correction instead (% on %)', TG_OP, TG_TABLE_NAME
        USING ERRCODE = 'restrict_violation';
END
$$;
-- +goose StatementEnd

-- Row-level, so PostgreSQL clones it onto every partition, present and
-- future: an UPDATE or DELETE aimed at a partition is refused too.
CREATE TRIGGER transfers_are_immutable BEFORE UPDATE OR DELETE ON transfers
    FOR EACH ROW EXECUTE FUNCTION transfers_are_immutable();
CREATE TRIGGER transfers_no_truncate BEFORE TRUNCATE ON transfers
    FOR EACH STATEMENT EXECUTE FUNCTION transfers_are_immutable();

-- +goose StatementBegin
-- A reversal names a booked transfer, cancels it exactly (accounts swapped,
-- same unit and amount), and is its only reversal.
CREATE FUNCTION transfers_check_reversal() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    o record;
BEGIN
    SELECT t.debit_account, t.credit_account, t.unit, t.amount INTO o FROM transfers t WHERE t.id = NEW.reverses;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'transfer % reverses %, which is not booked', NEW.id, NEW.reverses USING ERRCODE = 'OT002';
    END IF;
    IF (o.debit_account, o.credit_account, o.unit, o.amount) IS DISTINCT FROM (NEW.credit_account, NEW.debit_account, NEW.unit, NEW.amount) THEN
        RAISE EXCEPTION 'transfer % reverses % but does not cancel it: % % %→% reversed by % % %→%', NEW.id, NEW.reverses,
            o.amount, o.unit, o.debit_account, o.credit_account, NEW.amount, NEW.unit, NEW.debit_account, NEW.credit_account
            USING ERRCODE = 'OT002';
    END IF;
    IF (SELECT count(*) FROM transfers r WHERE r.reverses = NEW.reverses) > 1 THEN
        RAISE EXCEPTION 'transfer % is reversed more than once (again by %)', NEW.reverses, NEW.id USING ERRCODE = 'OT002';
    END IF;
    RETURN NULL;
END
$$;
-- +goose StatementEnd

-- AFTER, so a reversal and what it reverses may come in one statement.
CREATE TRIGGER transfers_check_reversal AFTER INSERT ON transfers
    FOR EACH ROW WHEN (NEW.reverses IS NOT NULL) EXECUTE FUNCTION transfers_check_reversal();

-- +goose StatementBegin
-- Creates the period's row and its partition of transfers if missing. The
-- writer calls it before booking a batch (the store caches what exists), so
-- partitions appear on demand; SECURITY DEFINER because creating a partition
-- needs the owner of transfers, which the writer is not. An advisory lock
-- serializes concurrent callers. Statement triggers do not reach a partition
-- written to directly, so each partition gets its own TRUNCATE guard.
CREATE FUNCTION ledger_ensure_period(p text) RETURNS void LANGUAGE plpgsql
SECURITY DEFINER SET search_path = public, pg_temp AS $$
DECLARE
    part text := 'transfers_' || replace(p, '-', '_');
BEGIN
    IF p !~ '^[0-9]{4}-(0[1-9]|1[0-2])$' THEN
        RAISE EXCEPTION 'billing period %L is not YYYY-MM', p USING ERRCODE = 'invalid_parameter_value';
    END IF;
    INSERT INTO periods (period) VALUES (p) ON CONFLICT DO NOTHING;
    IF to_regclass(part) IS NOT NULL THEN
        RETURN;
    END IF;
    PERFORM pg_advisory_xact_lock(hashtext('offtake: transfers partitions'));
    IF to_regclass(part) IS NOT NULL THEN
        RETURN;
    END IF;
    EXECUTE format('CREATE TABLE %I PARTITION OF transfers FOR VALUES IN (%L)', part, p);
    EXECUTE format('CREATE TRIGGER transfers_no_truncate BEFORE TRUNCATE ON %I FOR EACH STATEMENT EXECUTE FUNCTION transfers_are_immutable()', part);
END
$$;
-- +goose StatementEnd

-- +goose StatementBegin
-- Finalizes a billing period: from the commit on, its partition refuses
-- every new row (a CHECK (false) constraint, NOT VALID so the rows already
-- there stay), with an error naming the period. The row lock on periods
-- makes one of two concurrent finalizers lose (OT001); the ACCESS EXCLUSIVE
-- lock the constraint takes waits for every transaction writing the
-- partition to end, so finalized_at, read from the clock after it, is later
-- than the recorded_at of every transfer the period holds.
CREATE FUNCTION ledger_finalize_period(p text, by_whom text) RETURNS timestamptz LANGUAGE plpgsql
SECURITY DEFINER SET search_path = public, pg_temp AS $$
DECLARE
    pr periods;
    at timestamptz;
BEGIN
    IF coalesce(by_whom, '') = '' THEN
        RAISE EXCEPTION 'say who finalizes billing period %', p USING ERRCODE = 'invalid_parameter_value';
    END IF;
    PERFORM ledger_ensure_period(p);
    SELECT * INTO pr FROM periods WHERE period = p FOR UPDATE;
    IF pr.finalized_at IS NOT NULL THEN
        RAISE EXCEPTION 'billing period % was finalized by % at %', p, pr.finalized_by, pr.finalized_at USING ERRCODE = 'OT001';
    END IF;
    EXECUTE format('ALTER TABLE %I ADD CONSTRAINT %I CHECK (false) NOT VALID',
        'transfers_' || replace(p, '-', '_'), 'period_' || replace(p, '-', '_') || '_is_finalized');
    at := clock_timestamp();
    UPDATE periods SET finalized_at = at, finalized_by = by_whom WHERE period = p;
    RETURN at;
END
$$;
-- +goose StatementEnd

-- Move the journal across, partition by partition.
SELECT ledger_ensure_period(period) FROM (SELECT DISTINCT period FROM transfers_v1) p;
INSERT INTO transfers (id, batch_id, debit_account, credit_account, unit, amount, leg, site,
    interval_start, interval_end, period, revision, contract_id, contract_version, quantity_mwh,
    price_usd_per_mwh, price_node, price_market, price_start, price_carried, readings, recorded_at)
SELECT id, batch_id, debit_account, credit_account, unit, amount, leg, site,
    interval_start, interval_end, period, revision, contract_id, contract_version, quantity_mwh,
    price_usd_per_mwh, price_node, price_market, price_start, price_carried, readings, recorded_at
FROM transfers_v1;
DROP TABLE transfers_v1;

-- Interval records and offsets name their batch; Verify checks the batch
-- exists. A foreign key would check it row by row, in a trigger each, on the
-- write path of every batch.
ALTER TABLE intervals DROP CONSTRAINT intervals_batch_id_fkey;
ALTER TABLE consumer_offsets DROP CONSTRAINT consumer_offsets_batch_id_fkey;

-- Every stored offset a partition ever had, in order: Verify checks that no
-- consumer offset moved backwards. Written by a trigger, never by hand.
CREATE TABLE consumer_offset_history (
    seq         bigserial   PRIMARY KEY,
    consumer    text        NOT NULL,
    topic       text        NOT NULL,
    partition   int         NOT NULL,
    next_offset bigint      NOT NULL,
    batch_id    bigint,
    recorded_at timestamptz NOT NULL DEFAULT now()
);
INSERT INTO consumer_offset_history (consumer, topic, partition, next_offset, batch_id, recorded_at)
SELECT consumer, topic, partition, next_offset, batch_id, updated_at FROM consumer_offsets
ORDER BY consumer, topic, partition;

-- +goose StatementBegin
CREATE FUNCTION consumer_offsets_forward() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'DELETE' THEN
        RAISE EXCEPTION 'consumer offsets are never deleted (% %/%)', OLD.consumer, OLD.topic, OLD.partition
            USING ERRCODE = 'restrict_violation';
    END IF;
    IF NEW.next_offset < OLD.next_offset THEN
        RAISE EXCEPTION 'consumer % offset of %/% would move back from % to %', OLD.consumer, OLD.topic, OLD.partition,
            OLD.next_offset, NEW.next_offset USING ERRCODE = 'check_violation';
    END IF;
    RETURN NEW;
END
$$;
-- +goose StatementEnd

-- +goose StatementBegin
-- AFTER, not BEFORE: an INSERT … ON CONFLICT fires BEFORE INSERT triggers
-- even when it ends up updating, or doing nothing.
CREATE FUNCTION consumer_offsets_record() RETURNS trigger LANGUAGE plpgsql
SECURITY DEFINER SET search_path = public, pg_temp AS $$
BEGIN
    INSERT INTO consumer_offset_history (consumer, topic, partition, next_offset, batch_id)
    VALUES (NEW.consumer, NEW.topic, NEW.partition, NEW.next_offset, NEW.batch_id);
    RETURN NULL;
END
$$;
-- +goose StatementEnd

CREATE TRIGGER consumer_offsets_forward BEFORE UPDATE OR DELETE ON consumer_offsets
    FOR EACH ROW EXECUTE FUNCTION consumer_offsets_forward();
CREATE TRIGGER consumer_offsets_record AFTER INSERT OR UPDATE ON consumer_offsets
    FOR EACH ROW EXECUTE FUNCTION consumer_offsets_record();

-- +goose StatementBegin
CREATE FUNCTION history_is_immutable() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION '% is append-only (% refused)', TG_TABLE_NAME, TG_OP USING ERRCODE = 'restrict_violation';
END
$$;
-- +goose StatementEnd

CREATE TRIGGER consumer_offset_history_immutable BEFORE UPDATE OR DELETE OR TRUNCATE ON consumer_offset_history
    FOR EACH STATEMENT EXECUTE FUNCTION history_is_immutable();
CREATE TRIGGER batches_immutable BEFORE DELETE OR TRUNCATE ON batches
    FOR EACH STATEMENT EXECUTE FUNCTION history_is_immutable();

-- Roles. They are cluster-wide, so several databases of one server share
-- them: create each one only if missing (tolerating a concurrent migration
-- of another database creating it first), and grant per database. They are
-- NOLOGIN groups: log in as your own role and be a member, e.g.
--   CREATE ROLE engine LOGIN PASSWORD '…' IN ROLE offtake_writer;
--   offtake_writer      the engine: books batches (transfers, balances,
--                       intervals, prices, offsets); cannot change a transfer
--   offtake_reader      positions and reporting: SELECT only
--   offtake_settlement  settlement: reads, and finalizes billing periods
--                       (through ledger_finalize_period only)
-- +goose StatementBegin
DO $$
DECLARE
    r text;
BEGIN
    FOREACH r IN ARRAY ARRAY['offtake_writer', 'offtake_reader', 'offtake_settlement'] LOOP
        IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = r) THEN
            BEGIN
                EXECUTE format('CREATE ROLE %I NOLOGIN', r);
            EXCEPTION WHEN duplicate_object OR unique_violation THEN
                NULL; -- another database's migration created it meanwhile
            END;
        END IF;
    END LOOP;
    EXECUTE format('GRANT CONNECT, TEMPORARY ON DATABASE %I TO offtake_writer', current_database());
    EXECUTE format('GRANT CONNECT ON DATABASE %I TO offtake_reader, offtake_settlement', current_database());
END
$$;
-- +goose StatementEnd

GRANT USAGE ON SCHEMA public TO offtake_writer, offtake_reader, offtake_settlement;
GRANT SELECT ON ALL TABLES IN SCHEMA public TO offtake_writer, offtake_reader, offtake_settlement;
GRANT INSERT ON batches, transfers, intervals TO offtake_writer;
GRANT INSERT, UPDATE ON accounts, prices, consumer_offsets TO offtake_writer;
GRANT UPDATE (transfers) ON batches TO offtake_writer;
GRANT USAGE ON SEQUENCE batches_id_seq TO offtake_writer;
REVOKE EXECUTE ON FUNCTION ledger_ensure_period(text), ledger_finalize_period(text, text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION ledger_finalize_period(text, text) TO offtake_settlement;
GRANT EXECUTE ON FUNCTION ledger_ensure_period(text) TO offtake_writer;
-- Tables later migrations create are readable by all three.
ALTER DEFAULT PRIVILEGES IN SCHEMA public GRANT SELECT ON TABLES TO offtake_writer, offtake_reader, offtake_settlement;

-- +goose Down
-- The journal moved into partitions and gained columns and rules that the
-- version before cannot hold: going back is restoring a backup, not a script.
-- +goose StatementBegin
DO $$ BEGIN
    RAISE EXCEPTION '00002_ledger_locks cannot be undone by a script: restore a backup taken before it';
END $$;
-- +goose StatementEnd
