// Package matching is offtake's in-memory matching engine. It keeps an
// interval book per site, fills it with meter readings and market prices,
// closes an interval when every expected meter has reported (or when the
// site's event-time watermark passes the interval's end plus a grace), and
// allocates the plant's net output to the co-located loads under their PPAs:
// priorities first, pro rata within a priority, the rest exported to the
// grid, unmet load imported from it.
//
// Energy inside the engine is an integer number of watt-hours (Wh), the
// minimum unit, so allocation is exact and cheap; it becomes a decimal MWh at
// the boundaries. Every allocation asserts that energy is conserved:
// net generation = Σ delivered + export − plant import, and for each load,
// load = Σ delivered to it + import. A broken invariant is a bug and panics.
//
// The package is pure: no I/O, no clock. Time only moves with the readings.
package matching
