package api

import (
	"bufio"
	"crypto/sha256"
	"fmt"
	"io"
	"net/http"
	"strings"

	"github.com/offtake/offtake/contracts"
)

// Role is what a token may do.
type Role string

// The roles.
const (
	// Trader reads everything: positions, series, contracts, invoices,
	// the event stream, status and metrics. Nothing writes.
	Trader Role = "trader"
	// Counterparty reads only what concerns its party: its own contracts,
	// invoices and loads (and a plant's figures only at a site it owns),
	// through every endpoint and the event stream.
	Counterparty Role = "counterparty"
	// Operator reads what running the engine needs: /metrics and
	// /api/v1/status; no commercial data.
	Operator Role = "operator"
)

// Identity is who a token speaks for.
type Identity struct {
	Name  string `json:"name"` // a label for logs ("desk-1", "northwind-ap")
	Role  Role   `json:"role"`
	Party string `json:"party,omitempty"` // counterparty only
}

// Tokens maps API tokens to identities. Only a hash of each token is kept.
type Tokens struct {
	byHash map[[32]byte]Identity
}

// Len is how many tokens are configured.
func (t *Tokens) Len() int {
	if t == nil {
		return 0
	}
	return len(t.byHash)
}

// lookup finds the identity of a token. Hashing first makes the map lookup
// independent of how much of a guessed token matches a real one.
func (t *Tokens) lookup(token string) (Identity, bool) {
	if t == nil || token == "" {
		return Identity{}, false
	}
	id, ok := t.byHash[sha256.Sum256([]byte(token))]
	return id, ok
}

// ParseTokens reads a tokens file: one token a line,
//
//	ROLE[:PARTY] TOKEN [NAME]
//
// e.g. `trader 3f9c… desk-1`, `counterparty:northwind 77ab… northwind-ap`,
// `operator c0de… prometheus`. Blank lines and lines starting with # are
// skipped. p, when set, checks that each counterparty's party exists.
// Errors name the file and line. A token must be at least 16 characters.
func ParseTokens(name string, r io.Reader, p *contracts.Portfolio) (*Tokens, error) {
	t := &Tokens{byHash: map[[32]byte]Identity{}}
	sc := bufio.NewScanner(r)
	for line := 1; sc.Scan(); line++ {
		text := strings.TrimSpace(sc.Text())
		if text == "" || strings.HasPrefix(text, "#") {
			continue
		}
		if err := t.add(text, p); err != nil {
			return nil, fmt.Errorf("%s:%d: %w", name, line, err)
		}
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	return t, nil
}

// ParseTokenList reads tokens from an environment variable's value: entries
// separated by commas or semicolons, each `ROLE[:PARTY]=TOKEN[=NAME]`.
func ParseTokenList(list string, p *contracts.Portfolio) (*Tokens, error) {
	t := &Tokens{byHash: map[[32]byte]Identity{}}
	for i, e := range strings.FieldsFunc(list, func(r rune) bool { return r == ',' || r == ';' }) {
		if e = strings.TrimSpace(e); e == "" {
			continue
		}
		if err := t.add(strings.ReplaceAll(e, "=", " "), p); err != nil {
			return nil, fmt.Errorf("token entry %d: %w", i+1, err)
		}
	}
	return t, nil
}

// Merge is t with o's tokens added.
func (t *Tokens) Merge(o *Tokens) *Tokens {
	out := &Tokens{byHash: map[[32]byte]Identity{}}
	for _, src := range []*Tokens{t, o} {
		if src == nil {
			continue
		}
		for h, id := range src.byHash {
			out.byHash[h] = id
		}
	}
	return out
}

func (t *Tokens) add(entry string, p *contracts.Portfolio) error {
	f := strings.Fields(entry)
	if len(f) < 2 || len(f) > 3 {
		return fmt.Errorf("want ROLE[:PARTY] TOKEN [NAME], got %d fields", len(f))
	}
	roleText, party, _ := strings.Cut(f[0], ":")
	id := Identity{Role: Role(roleText), Party: party, Name: roleText}
	if len(f) == 3 {
		id.Name = f[2]
	}
	switch id.Role {
	case Trader, Operator:
		if party != "" {
			return fmt.Errorf("role %s takes no party (%q)", id.Role, party)
		}
	case Counterparty:
		if party == "" {
			return fmt.Errorf("role counterparty needs its party: counterparty:PARTY")
		}
		if p != nil {
			if _, ok := p.Party(party); !ok {
				return fmt.Errorf("counterparty %q is not a party of the contract files", party)
			}
		}
		if len(f) < 3 {
			id.Name = party
		}
	default:
		return fmt.Errorf("unknown role %q: use trader, counterparty:PARTY or operator", roleText)
	}
	if len(f[1]) < 16 {
		return fmt.Errorf("token for %s is %d characters: use at least 16 (e.g. `openssl rand -hex 24`)", id.Name, len(f[1]))
	}
	h := sha256.Sum256([]byte(f[1]))
	if _, dup := t.byHash[h]; dup {
		return fmt.Errorf("token for %s is given twice", id.Name)
	}
	t.byHash[h] = id
	return nil
}

// tokenOf reads the request's token: `Authorization: Bearer TOKEN`, or the
// access_token query parameter (the browser's EventSource cannot set
// headers).
func tokenOf(r *http.Request) string {
	if h := r.Header.Get("Authorization"); h != "" {
		if tok, ok := strings.CutPrefix(h, "Bearer "); ok {
			return strings.TrimSpace(tok)
		}
		return ""
	}
	return r.URL.Query().Get("access_token")
}
