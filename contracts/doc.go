// Package contracts holds the commercial facts offtake settles against: the
// parties, the sites with their meters and price nodes, and the power purchase
// agreements (PPAs) between a plant owner and the loads co-located with it.
//
// It is pure Go: no I/O, no clock. Load reads a contract file (YAML) from
// bytes and checks it whole, reporting every mistake with file:line and the
// field at fault. Times are UTC instants; billing periods and contract dates
// are read in the site's market time zone (tzdata is embedded).
package contracts
