// Package replay turns real data files — ISO price exports (PJM Data Miner,
// ERCOT-style hourly files in local time), EIA daily gas prices, Green Button
// (NAESB ESPI) meter data and plain CSV readings — into offtake's Kafka
// messages for one site, and publishes them at full speed or at a chosen pace.
//
// A replay is checked whole before anything is published: every row is parsed,
// mapped to a meter or price node, converted to exact Wh or $/MWh, fitted to
// the site's settlement interval by the documented rule (an hourly energy
// value is split evenly into the site's shorter intervals, the remainder Wh to
// the last; shorter intervals are summed into a longer one only when every
// part is present; a price covers the intervals inside its own), and checked
// for overlaps. A mistake is an *offtake.Error naming file:line.
package replay
