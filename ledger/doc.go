// Package ledger is offtake's double-entry journal. Every allocation the
// matching engine makes becomes transfers: energy (MWh) from seller to buyer
// and money (USD) back at the contract price, and export, import and plant
// import legs with the grid at market prices. A transfer moves a non-negative
// amount of one unit from its debit account to its credit account, so debits
// equal credits for every unit by construction; an account's balance is its
// credits minus its debits.
//
// A transfer's id is derived from what it records (site, interval, revision,
// leg, contract or party), so booking the same allocation twice is a no-op.
// Transfers are never changed or deleted; corrections are new transfers.
//
// The package root is pure: types and the posting rules (Post). The
// PostgreSQL store is in ledger/postgres.
package ledger
