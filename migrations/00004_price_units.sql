-- What a stored price is per: power prices in USD/MWh, gas index prices in
-- USD/MMBtu (for gas-indexed contracts), grid emission factors in
-- kgCO2e/MWh. A restarted engine reloads prices from this table and must
-- know which is which.

-- +goose Up
ALTER TABLE prices ADD COLUMN unit text NOT NULL DEFAULT 'MWh'
    CHECK (unit IN ('MWh', 'MMBtu', 'kgCO2e/MWh'));

-- +goose Down
ALTER TABLE prices DROP COLUMN unit;
