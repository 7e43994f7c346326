// Package settlement turns a billing period of the ledger into statements,
// one per contract: energy lines by price, each amount rounded to the cent
// once by the contract's rule, and a total that is the sum of the rounded
// lines (never rounded separately). It is pure: the ledger totals come through
// the Source interface (settlement/pgsource reads them from PostgreSQL) and
// the files are written by settlement/files.
package settlement
