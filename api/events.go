package api

import (
	"encoding/json"
	"fmt"
	"net/http"
	"sync"
	"time"

	"github.com/offtake/offtake/positions"
)

// subscriberQueue bounds each event-stream client's queue: a client that
// falls this far behind is disconnected (its browser reconnects and gets a
// fresh snapshot) rather than holding memory or slowing the others.
const subscriberQueue = 16

// heartbeat keeps idle event streams open through proxies.
const heartbeat = 15 * time.Second

type event struct {
	name string
	data []byte
}

type subscriber struct {
	id Identity
	ch chan event
}

// hub fans events out to the event-stream clients, each filtered for its
// token's scope when it is sent.
type hub struct {
	mu   sync.Mutex
	subs map[*subscriber]struct{}
}

func newHub() *hub { return &hub{subs: map[*subscriber]struct{}{}} }

func (h *hub) add(id Identity) *subscriber {
	s := &subscriber{id: id, ch: make(chan event, subscriberQueue)}
	h.mu.Lock()
	h.subs[s] = struct{}{}
	h.mu.Unlock()
	return s
}

func (h *hub) remove(s *subscriber) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if _, ok := h.subs[s]; ok {
		delete(h.subs, s)
		close(s.ch)
	}
}

func (h *hub) closeAll() {
	h.mu.Lock()
	defer h.mu.Unlock()
	for s := range h.subs {
		delete(h.subs, s)
		close(s.ch)
	}
}

func (h *hub) count() int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return len(h.subs)
}

// send queues an event for every subscriber; render makes each one's
// payload from its identity (nil: nothing for it). Payloads are rendered
// once per distinct scope.
func (h *hub) send(name string, render func(Identity) any) {
	h.mu.Lock()
	defer h.mu.Unlock()
	cache := map[string][]byte{}
	for s := range h.subs {
		key := string(s.id.Role) + ":" + s.id.Party
		data, ok := cache[key]
		if !ok {
			if v := render(s.id); v != nil {
				data, _ = json.Marshal(v)
			}
			cache[key] = data
		}
		if data == nil {
			continue
		}
		select {
		case s.ch <- event{name, data}:
		default: // too far behind: drop it; the browser reconnects
			delete(h.subs, s)
			close(s.ch)
		}
	}
}

// positions pushes a recomputed report.
func (h *hub) positions(rep *positions.Report) {
	h.send("positions", func(id Identity) any { return scopeReport(rep, id) })
}

// scopeReport is what id may see of a report.
func scopeReport(rep *positions.Report, id Identity) *positions.Report {
	switch id.Role {
	case Trader:
		return rep
	case Counterparty:
		return rep.ForParty(id.Party)
	}
	return nil
}

// scopePoints is what id may see of chart points: everything for a trader
// and for the owner of the plant; its own loads only for another
// counterparty.
func (s *Server) scopePoints(pts []positions.Point, id Identity) []positions.Point {
	switch id.Role {
	case Trader:
		return pts
	case Counterparty:
		var out []positions.Point
		for _, pt := range pts {
			if st, ok := s.p.Site(pt.Site); ok && st.Owner == id.Party {
				out = append(out, pt)
			} else if q := pt.ForParty(id.Party); len(q.Loads) > 0 {
				out = append(out, q)
			}
		}
		return out
	}
	return nil
}

// events serves the event stream: a `positions` event with the current
// positions at once and after every change, and an `intervals` event with
// the chart points of each booked batch.
func (s *Server) events(w http.ResponseWriter, r *http.Request, id Identity) {
	flusher, ok := w.(http.Flusher)
	if !ok {
		http.Error(w, "streaming unsupported", http.StatusInternalServerError)
		return
	}
	sub := s.hub.add(id)
	defer s.hub.remove(sub)
	s.metrics.sseClients.Inc()
	defer s.metrics.sseClients.Dec()
	h := w.Header()
	h.Set("Content-Type", "text/event-stream")
	h.Set("Cache-Control", "no-cache")
	h.Set("X-Accel-Buffering", "no")
	w.WriteHeader(http.StatusOK)
	fmt.Fprint(w, "retry: 2000\n\n")
	if rep, _, _ := s.current(); rep != nil {
		data, _ := json.Marshal(scopeReport(rep, id))
		writeEvent(w, event{"positions", data})
	}
	flusher.Flush()
	beat := time.NewTicker(heartbeat)
	defer beat.Stop()
	for {
		select {
		case <-r.Context().Done():
			return
		case ev, ok := <-sub.ch:
			if !ok {
				return
			}
			writeEvent(w, ev)
			flusher.Flush()
		case <-beat.C:
			fmt.Fprint(w, ": keep-alive\n\n")
			flusher.Flush()
		}
	}
}

func writeEvent(w http.ResponseWriter, ev event) {
	fmt.Fprintf(w, "event: %s\ndata: %s\n\n", ev.name, ev.data)
}
