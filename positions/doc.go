// Package positions is what traders watch while a month runs: per contract
// and per site, month to date or for any billing period, the energy
// delivered and its money, the contracted volume and the minimum-take pace,
// shortfalls, the plant's net generation sold under PPAs versus exported,
// its fuel cost and spark spread, each data center's load and how much of it
// the plant matched hour by hour, and the mark-to-market of the rest of the
// month's contracted volume against a forward curve.
//
// The root is pure: Build turns ledger totals (Inputs) and the contract
// terms into a Report, with no I/O and no clock; the "now" of month to date
// is the end of the latest interval the ledger holds for the site (event
// time). positions/pgsource reads the Inputs from the ledger in PostgreSQL.
// Series keeps the per-interval points of the live chart, fed by the
// engine's results as they are booked. Every amount is an exact decimal.
package positions
