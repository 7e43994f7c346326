package contracts

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/shopspring/decimal"
	"go.yaml.in/yaml/v3"

	offtake "github.com/offtake/offtake"
)

// Load reads a contract file. name is used in messages (file:line). The file
// is checked whole: every mistake is reported, as offtake.Errors, each an
// *offtake.Error with Place "name:line" (the line of the offending node),
// Field a dotted path like "contracts[ppa-helios].price.usd_per_mwh", Msg
// what is wrong and Hint what to change. Nothing partial is returned on error.
func Load(name string, data []byte) (*Portfolio, error) {
	l := &loader{}
	f := l.addFile(name)
	l.parse(f, data)
	return l.finish()
}

// LoadFiles reads and merges several contract files: a party, site or
// contract may refer to one defined in another file, and ids must be unique
// across all of them. Files are read from fsys (the caller passes os.DirFS or
// an embedded FS), so this package does no OS I/O of its own.
func LoadFiles(fsys fs.FS, names ...string) (*Portfolio, error) {
	if len(names) == 0 {
		return nil, offtake.Errors{{Msg: "no contract files given", Hint: "name at least one contract file"}}
	}
	l := &loader{}
	for _, name := range names {
		f := l.addFile(name)
		data, err := fs.ReadFile(fsys, name)
		if err != nil {
			l.report(f, nil, "", "check the file name and that it can be read", "cannot read the contract file: %s", readError(err))
			l.partiesIncomplete, l.sitesIncomplete, l.calendarsIncomplete = true, true, true
			continue
		}
		l.parse(f, data)
	}
	return l.finish()
}

func readError(err error) string {
	var pe *fs.PathError
	if errors.As(err, &pe) {
		return pe.Err.Error()
	}
	return err.Error()
}

var (
	idPattern      = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$`)
	prefixPattern  = regexp.MustCompile(`^[A-Z0-9]{2,8}$`)
	decimalPattern = regexp.MustCompile(`^[+-]?[0-9]+(\.[0-9]+)?$`)
	intPattern     = regexp.MustCompile(`^[+-]?[0-9]+$`)
	keyPattern     = regexp.MustCompile(`^[A-Za-z0-9_.-]{1,64}$`)
	yamlErrLine    = regexp.MustCompile(`^(?:yaml: )?line ([0-9]+): (.*)$`)
)

const (
	fileHint = "a contract file is a mapping with parties:, sites: and contracts:, like examples/coyote-flats.yaml"
	idHint   = "an id is 1 to 64 letters, digits, '.', '_' or '-', starting with a letter or digit"
	// maxDecimals is the most decimal places a price or capacity may have,
	// and maxDigits the most digits before the point (below a billion MW or
	// USD/MWh: anything bigger is a mistake, and would overflow integer
	// minimum units downstream).
	maxDecimals = 6
	maxDigits   = 9
)

// The keys each mapping of a contract file may hold.
var (
	topKeys      = []string{"parties", "calendars", "sites", "contracts"}
	partyKeys    = []string{"id", "name", "role", "address", "tax_id", "email", "invoice_prefix", "remittance", "taxes"}
	taxKeys      = []string{"name", "percent", "category"}
	siteKeys     = []string{"id", "name", "market", "time_zone", "interval_minutes", "owner", "grid", "capacity_mw", "generator_node", "load_node", "meters", "emissions"}
	emissionKeys = []string{"heat_rate", "fuel_kg_per_mmbtu", "grid_kg_per_mwh", "grid_factor_node"}
	meterKeys    = []string{"id", "kind", "party", "node", "loss_factor"}
	contractKeys = []string{"id", "kind", "seller", "buyer", "site", "meter", "priority", "start", "end", "calendar", "volume", "price", "virtual", "monthly", "amendments", "rounding", "payment_terms_days"}
)

// problem is one mistake, with where it is for sorting.
type problem struct {
	file, line, col int
	err             *offtake.Error
}

// loader reads files into raw items, then checks the references between
// them (which may cross files) and builds the Portfolio if all is well.
type loader struct {
	names     []string
	problems  []problem
	parties   []*partyIn
	calendars []*calendarIn
	sites     []*siteIn
	contracts []*contractIn

	// Some parties or sites could not be read (no id, not a mapping, a
	// misspelt key): a reference that does not resolve may be to one of
	// them, so it is not reported again.
	partiesIncomplete, sitesIncomplete, calendarsIncomplete bool
}

// item is what every defined thing keeps for messages: its file, its node,
// its path and the value nodes of its keys.
type item struct {
	f    int
	node *yaml.Node
	path string
	at   map[string]*yaml.Node
}

// nodeOr is the node of key, or the item's node when the key is absent.
func (it *item) nodeOr(key string) *yaml.Node {
	if n := it.at[key]; n != nil {
		return n
	}
	return it.node
}

type partyIn struct {
	item
	p      Party
	roleOK bool
}

type siteIn struct {
	item
	s      Site
	meters []item // parallel to s.Meters
	byID   map[string]int

	// what later checks may rely on without repeating an earlier message
	metersIncomplete bool   // a meter could not be read
	kindOK, partyOK  []bool // per meter: its kind, and its party (a buyer), are right
	ownerOK          bool   // the owner is a seller party
}

type contractIn struct {
	item
	c      Contract
	kindOK bool
	refs   []bandRef // during: bands, checked against the calendar
	rates  []rateRef // tou rates, checked against the calendar
}

func (l *loader) addFile(name string) int {
	l.names = append(l.names, name)
	return len(l.names) - 1
}

// report records a mistake at node n (nil: the file as a whole) of file f.
func (l *loader) report(f int, n *yaml.Node, field, hint, format string, args ...any) {
	line, col := 0, 0
	if n != nil {
		line, col = n.Line, n.Column
	}
	l.reportAt(f, line, col, field, hint, fmt.Sprintf(format, args...))
}

func (l *loader) reportAt(f, line, col int, field, hint, msg string) {
	place := l.names[f]
	if line > 0 {
		place = fmt.Sprintf("%s:%d", place, line)
	}
	l.problems = append(l.problems, problem{f, line, col, &offtake.Error{Place: place, Field: field, Msg: msg, Hint: hint}})
}

// where is "file:line" of a node, for "first defined at" notes.
func (l *loader) where(f int, n *yaml.Node) string {
	if n == nil || n.Line == 0 {
		return l.names[f]
	}
	return fmt.Sprintf("%s:%d", l.names[f], n.Line)
}

// parse reads one file into raw items, reporting what can be checked within it.
func (l *loader) parse(f int, data []byte) {
	read := false
	defer func() {
		if !read {
			// what the file defines is unknown: references to it are not reported
			l.partiesIncomplete, l.sitesIncomplete, l.calendarsIncomplete = true, true, true
		}
	}()
	dec := yaml.NewDecoder(bytes.NewReader(data))
	var doc yaml.Node
	if err := dec.Decode(&doc); err != nil {
		if err == io.EOF {
			l.report(f, nil, "", fileHint, "the file is empty")
		} else {
			l.yamlError(f, data, err)
		}
		return
	}
	var extra yaml.Node
	switch err := dec.Decode(&extra); {
	case err == io.EOF:
	case err != nil:
		l.yamlError(f, data, err)
		return
	default:
		l.report(f, &extra, "", "remove the --- line and keep one document per file, or split it into several files", "a second YAML document is not allowed")
		return
	}
	if doc.Kind != yaml.DocumentNode || len(doc.Content) != 1 {
		l.report(f, &doc, "", fileHint, "the file is not a YAML document")
		return
	}
	root := doc.Content[0]
	if isNull(root) {
		l.report(f, root, "", fileHint, "the file is empty")
		return
	}
	top := l.object(f, root, "", "a contract file", topKeys, fileHint)
	if top == nil {
		return
	}
	if len(top.vals) == 0 && len(top.keys) == 0 {
		l.report(f, root, "", fileHint, "the file defines nothing")
		return
	}
	read = !top.bad
	parties := top.list("parties", false, "a list of parties, each like `- id: mesa-ridge`")
	if parties == nil && top.vals["parties"] != nil && !isNull(top.vals["parties"]) {
		l.partiesIncomplete = true
	}
	for i, n := range parties {
		l.party(f, n, i)
	}
	calendars := top.list("calendars", false, "a list of calendars, each like `- id: ercot-5x16`")
	if calendars == nil && top.vals["calendars"] != nil && !isNull(top.vals["calendars"]) {
		l.calendarsIncomplete = true
	}
	for i, n := range calendars {
		l.calendar(f, n, i)
	}
	sites := top.list("sites", false, "a list of sites, each like `- id: coyote-flats`")
	if sites == nil && top.vals["sites"] != nil && !isNull(top.vals["sites"]) {
		l.sitesIncomplete = true
	}
	for i, n := range sites {
		l.site(f, n, i)
	}
	for i, n := range top.list("contracts", false, "a list of contracts, each like `- id: ppa-northwind`") {
		l.contract(f, n, i)
	}
}

// yamlError reports a syntax error from the YAML parser.
func (l *loader) yamlError(f int, data []byte, err error) {
	var te *yaml.TypeError
	msgs := []string{err.Error()}
	if errors.As(err, &te) {
		msgs = te.Errors
	}
	for _, msg := range msgs {
		line := 0
		if m := yamlErrLine.FindStringSubmatch(msg); m != nil {
			line, _ = strconv.Atoi(m[1])
			msg = m[2]
		}
		msg = strings.TrimPrefix(msg, "yaml: ")
		hint := "check the indentation and quoting on this line and the one before"
		if strings.Contains(msg, "tab") {
			// the parser may name the line before the one with the tab
			if line > 0 && !strings.Contains(lineOf(data, line), "\t") && strings.Contains(lineOf(data, line+1), "\t") {
				line++
			}
			hint = "indent with spaces: YAML does not allow tabs for indentation"
		}
		l.reportAt(f, line, 0, "", hint, "not valid YAML: "+msg)
	}
}

func lineOf(data []byte, n int) string {
	for i := 1; i < n; i++ {
		j := bytes.IndexByte(data, '\n')
		if j < 0 {
			return ""
		}
		data = data[j+1:]
	}
	if j := bytes.IndexByte(data, '\n'); j >= 0 {
		data = data[:j]
	}
	return string(data)
}

// ---- the node walker ----

// obj is a mapping node whose keys have been checked against a list.
type obj struct {
	l    *loader
	f    int
	node *yaml.Node
	key  *yaml.Node // the key that holds a nested mapping, where "missing" is reported
	path string
	keys map[string]*yaml.Node // key nodes, every key seen
	vals map[string]*yaml.Node // value nodes, allowed keys only
	bad  bool                  // some key was refused

	suggested map[string]bool // allowed keys a refused key was taken for
}

func join(path, key string) string {
	if path == "" {
		return key
	}
	return path + "." + key
}

// usable reports whether n can be read at all: YAML aliases and explicit tags
// are refused (a contract is written out in full).
func (l *loader) usable(f int, n *yaml.Node, path string) bool {
	switch {
	case n.Kind == yaml.AliasNode:
		l.report(f, n, path, "write the value out in full; anchors and aliases are not supported in contract files", "alias *%s is not allowed", short(n.Value))
		return false
	case n.Style&yaml.TaggedStyle != 0:
		l.report(f, n, path, "remove the tag and write the plain value", "YAML tag %s is not allowed", short(n.Tag))
		return false
	}
	return true
}

func isNull(n *yaml.Node) bool {
	return n.Kind == yaml.ScalarNode && n.Tag == "!!null" && n.Style&yaml.TaggedStyle == 0
}

// describe names what a node is, for "must be X, not Y" messages.
func describe(n *yaml.Node) string {
	switch n.Kind {
	case yaml.MappingNode:
		return "a mapping"
	case yaml.SequenceNode:
		return "a list"
	case yaml.ScalarNode:
		if isNull(n) {
			return "empty"
		}
		return fmt.Sprintf("the value %s", quote(n.Value))
	case yaml.AliasNode:
		return "an alias"
	}
	return "something else"
}

// quote quotes a value from the file for a message, shortened if long.
func quote(s string) string { return strconv.Quote(short(s)) }

// short cuts a value from the file to a length that fits in a message.
func short(s string) string {
	if r := []rune(s); len(r) > 40 {
		return string(r[:40]) + "…"
	}
	return s
}

// object checks that n is a mapping whose keys are all in allowed, each once.
// It returns nil (having reported why) when n is not a usable mapping.
func (l *loader) object(f int, n *yaml.Node, path, what string, allowed []string, hint string) *obj {
	if !l.usable(f, n, path) {
		return nil
	}
	if n.Kind != yaml.MappingNode {
		l.report(f, n, path, hint, "%s must be a mapping of keys to values, not %s", what, describe(n))
		return nil
	}
	o := &obj{l: l, f: f, node: n, path: path, keys: map[string]*yaml.Node{}, vals: map[string]*yaml.Node{}, suggested: map[string]bool{}}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], n.Content[i+1]
		switch {
		case k.Kind == yaml.ScalarNode && k.Tag == "!!merge":
			l.report(f, k, path, "write the keys out in full; merge keys are not supported in contract files", "merge key << is not allowed")
			continue
		case k.Kind != yaml.ScalarNode:
			l.report(f, k, path, "keys are plain names like id or price", "a key must be a plain name, not %s", describe(k))
			continue
		case !l.usable(f, k, path):
			continue
		}
		name := k.Value
		field := path // the key's path, when the key is a name that reads well in one
		if keyPattern.MatchString(name) {
			field = join(path, name)
		}
		if first, dup := o.keys[name]; dup {
			l.report(f, k, field, "remove one of them", "key %s appears twice, first at line %d", quote(name), first.Line)
			continue
		}
		o.keys[name] = k
		if !contains(allowed, name) {
			best := nearest(name, allowed)
			o.suggested[best] = true
			l.report(f, k, field, unknownHint(name, best, allowed), "unknown field %s", quote(name))
			continue
		}
		o.vals[name] = v
	}
	o.bad = len(o.vals)*2 != len(n.Content)
	return o
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// nearest is the allowed key name is most likely a misspelling of, or "".
func nearest(name string, allowed []string) string {
	best, bestD := "", 3
	for _, a := range allowed {
		if d := distance(strings.ToLower(name), a); d < bestD {
			best, bestD = a, d
		}
	}
	return best
}

// unknownHint suggests the nearest allowed key and lists them all.
func unknownHint(name, best string, allowed []string) string {
	list := "allowed here: " + strings.Join(allowed, ", ")
	if best != "" {
		return fmt.Sprintf("did you mean %q? %s", best, list)
	}
	return list
}

// distance is the Levenshtein distance between a and b (short strings only).
func distance(a, b string) int {
	if len(a) > 64 || len(b) > 64 {
		return 64
	}
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}

// missing reports a required key that is absent or empty.
func (o *obj) missing(key, hint string) {
	if o.suggested[key] {
		return // the misspelt key has been reported, with this one suggested
	}
	at := o.node
	if o.key != nil {
		at = o.key
	}
	o.l.report(o.f, at, join(o.path, key), hint, "required field %s is missing", quote(key))
}

func addHint(key, example string) string {
	return fmt.Sprintf("add a line like `%s: %s`", key, example)
}

// scalar is the value node of key when it is a single value. A null value
// counts as absent. ok is false when the key is absent or unusable.
func (o *obj) scalar(key string, required bool, example string) (*yaml.Node, bool) {
	v := o.vals[key]
	if v == nil || isNull(v) {
		if required {
			o.missing(key, addHint(key, example))
		}
		return nil, false
	}
	if !o.l.usable(o.f, v, join(o.path, key)) {
		return nil, false
	}
	if v.Kind != yaml.ScalarNode {
		o.l.report(o.f, v, join(o.path, key), fmt.Sprintf("write it like `%s: %s`", key, example), "must be a single value, not %s", describe(v))
		return nil, false
	}
	return v, true
}

// str reads a text value; a required one must not be empty.
func (o *obj) str(key string, required bool, example string) (string, *yaml.Node) {
	v, ok := o.scalar(key, required, example)
	if !ok {
		return "", nil
	}
	if required && strings.TrimSpace(v.Value) == "" {
		o.l.report(o.f, v, join(o.path, key), fmt.Sprintf("write it like `%s: %s`", key, example), "must not be empty")
		return "", nil
	}
	return v.Value, v
}

// id reads an id (required), checking its form. A malformed id is still
// returned so that references to it resolve and do not add more messages.
func (o *obj) id(example string) (string, *yaml.Node) {
	s, v := o.str("id", true, example)
	if v != nil && !idPattern.MatchString(s) {
		o.l.report(o.f, v, join(o.path, "id"), idHint, "%s is not a valid id", quote(s))
	}
	return s, v
}

// integer reads a whole number.
func (o *obj) integer(key string, required bool, example string) (int, *yaml.Node, bool) {
	v, ok := o.scalar(key, required, example)
	if !ok {
		return 0, nil, false
	}
	s := strings.TrimSpace(v.Value)
	n, err := strconv.Atoi(s)
	if !intPattern.MatchString(s) || err != nil || len(s) > 10 {
		o.l.report(o.f, v, join(o.path, key), fmt.Sprintf("write it like `%s: %s`", key, example), "%s is not a whole number", quote(v.Value))
		return 0, v, false
	}
	return n, v, true
}

// dec reads a decimal number exactly from its text (never via float64).
func (o *obj) dec(key string, required bool, example string) (decimal.Decimal, *yaml.Node, bool) {
	v, ok := o.scalar(key, required, example)
	if !ok {
		return decimal.Decimal{}, nil, false
	}
	s := strings.TrimSpace(v.Value)
	if !decimalPattern.MatchString(s) {
		o.l.report(o.f, v, join(o.path, key), decimalHint(s, example), "%s is not a decimal number", quote(v.Value))
		return decimal.Decimal{}, v, false
	}
	d, err := decimal.NewFromString(s)
	if err != nil {
		o.l.report(o.f, v, join(o.path, key), decimalHint(s, example), "%s is not a decimal number", quote(v.Value))
		return decimal.Decimal{}, v, false
	}
	if digits := len(strings.TrimLeft(strings.TrimLeft(strings.SplitN(s, ".", 2)[0], "+-"), "0")); digits > maxDigits {
		o.l.report(o.f, v, join(o.path, key), fmt.Sprintf("a value here has at most %d digits before the decimal point; check the unit (MW, USD/MWh)", maxDigits), "%s is too large", quote(v.Value))
		return decimal.Decimal{}, v, false
	}
	if places := decimalPlaces(s); places > maxDecimals {
		o.l.report(o.f, v, join(o.path, key), fmt.Sprintf("round it to %d decimal places at most", maxDecimals), "%s has %d decimal places", quote(v.Value), places)
		return decimal.Decimal{}, v, false
	}
	return d, v, true
}

func decimalPlaces(s string) int {
	if i := strings.IndexByte(s, '.'); i >= 0 {
		return len(s) - i - 1
	}
	return 0
}

// decimalHint suggests how to write a number that did not read.
func decimalHint(s, example string) string {
	switch {
	case strings.Count(s, ",") == 1 && !strings.Contains(s, ".") && decimalPattern.MatchString(strings.Replace(s, ",", ".", 1)) &&
		len(s)-strings.IndexByte(s, ',') != 4:
		return "write it like " + strings.Replace(s, ",", ".", 1)
	case strings.ContainsAny(s, ",_ ") && decimalPattern.MatchString(strings.NewReplacer(",", "", "_", "", " ", "").Replace(s)):
		return "write it without thousands separators, like " + strings.NewReplacer(",", "", "_", "", " ", "").Replace(s) + ", with '.' for a decimal point"
	case strings.ContainsAny(s, "eE") && !strings.ContainsAny(s, "nN"):
		return "write it out in full, without an exponent, like " + example
	}
	return "write it like " + example
}

// date reads a YYYY-MM-DD date.
func (o *obj) date(key string, example string) (Date, *yaml.Node, bool) {
	v, ok := o.scalar(key, true, example)
	if !ok {
		return Date{}, nil, false
	}
	d, err := ParseDate(strings.TrimSpace(v.Value))
	if err != nil || d.Year < 1900 {
		o.l.report(o.f, v, join(o.path, key), "write dates as YYYY-MM-DD, like "+example, "%s is not a date", quote(v.Value))
		return Date{}, v, false
	}
	return d, v, true
}

// sub reads a nested mapping.
func (o *obj) sub(key string, allowed []string, hint string) *obj {
	v := o.vals[key]
	if v == nil || isNull(v) {
		o.missing(key, hint)
		return nil
	}
	sub := o.l.object(o.f, v, join(o.path, key), key, allowed, hint)
	if sub != nil {
		sub.key = o.keys[key]
	}
	return sub
}

// list reads a list; an absent or empty value gives nil.
func (o *obj) list(key string, required bool, what string) []*yaml.Node {
	v := o.vals[key]
	if v == nil || isNull(v) {
		if required {
			o.missing(key, "add "+key+": with "+what)
		}
		return nil
	}
	if !o.l.usable(o.f, v, join(o.path, key)) {
		return nil
	}
	if v.Kind != yaml.SequenceNode {
		o.l.report(o.f, v, join(o.path, key), key+": takes "+what, "must be a list, not %s", describe(v))
		return nil
	}
	if required && len(v.Content) == 0 {
		o.l.report(o.f, v, join(o.path, key), key+": takes "+what, "must not be empty")
	}
	return v.Content
}

// itemPath names the i-th element of a list by its id when it has a valid
// one ("contracts[ppa-helios]"), else by its index from 0 ("contracts[2]").
func itemPath(list string, n *yaml.Node, i int) string {
	if n.Kind == yaml.MappingNode {
		for j := 0; j+1 < len(n.Content); j += 2 {
			k, v := n.Content[j], n.Content[j+1]
			if k.Kind == yaml.ScalarNode && k.Value == "id" && v.Kind == yaml.ScalarNode && idPattern.MatchString(v.Value) {
				return fmt.Sprintf("%s[%s]", list, v.Value)
			}
		}
	}
	return fmt.Sprintf("%s[%d]", list, i)
}

// ---- the things a file defines ----

func (l *loader) party(f int, n *yaml.Node, i int) {
	path := itemPath("parties", n, i)
	o := l.object(f, n, path, "a party", partyKeys, "write a party like `- id: mesa-ridge` with name: and role: on the lines below")
	if o == nil {
		l.partiesIncomplete = true
		return
	}
	p := &partyIn{item: item{f: f, node: n, path: path, at: o.vals}}
	p.p.ID, _ = o.id("mesa-ridge")
	if p.p.ID == "" {
		l.partiesIncomplete = true
	}
	p.p.Name, _ = o.str("name", true, "Mesa Ridge Power LLC")
	if role, v := o.str("role", true, "seller"); v != nil {
		switch r := Role(role); r {
		case RoleSeller, RoleBuyer, RoleGrid:
			p.p.Role, p.roleOK = r, true
		default:
			l.report(f, v, join(path, "role"), "role is seller for the plant owner, buyer for a data center, or grid for the ISO", "unknown role %s", quote(role))
		}
	}
	p.p.Address, _ = o.str("address", false, "")
	p.p.TaxID, _ = o.str("tax_id", false, "")
	if email, v := o.str("email", false, "ap@example.com"); v != nil {
		if !looksLikeEmail(email) {
			l.report(f, v, join(path, "email"), "write one address like ap@example.com", "%s is not an e-mail address", quote(email))
		} else {
			p.p.Email = email
		}
	}
	if prefix, v := o.str("invoice_prefix", false, "MRP"); v != nil {
		if !prefixPattern.MatchString(prefix) {
			l.report(f, v, join(path, "invoice_prefix"), "an invoice prefix is 2 to 8 capital letters or digits, like MRP", "%s is not a valid invoice prefix", quote(prefix))
		} else {
			p.p.InvoicePrefix = prefix
		}
	}
	p.p.Remittance, _ = o.str("remittance", false, "Wire to First Bank of Texas, ABA 111000025, account 4410293, reference the invoice number")
	p.p.Line = n.Line
	for j, tn := range o.list("taxes", false, "taxes like `- {name: Texas sales tax, percent: 6.25}`") {
		tpath := fmt.Sprintf("%s[%d]", join(path, "taxes"), j)
		to := l.object(f, tn, tpath, "a tax", taxKeys, "write a tax like `- {name: Texas sales tax, percent: 6.25, category: S}`")
		if to == nil {
			continue
		}
		tax := Tax{Category: "S"}
		tax.Name, _ = to.str("name", true, "Texas sales tax")
		if pct, v, ok := to.dec("percent", true, "6.25"); ok {
			if pct.Sign() < 0 || pct.GreaterThan(decimal.NewFromInt(100)) {
				l.report(f, v, join(tpath, "percent"), "a tax rate is a percentage from 0 to 100, like 6.25", "%s is not a tax rate", quote(v.Value))
			} else {
				tax.Percent = pct
			}
		}
		if c, v := to.str("category", false, "S"); v != nil {
			switch c {
			case "S", "Z", "E", "O":
				tax.Category = c
			default:
				l.report(f, v, join(tpath, "category"), "a UBL tax category: S (standard rate), Z (zero rated), E (exempt) or O (not subject to tax)", "unknown tax category %s", quote(c))
			}
		}
		p.p.Taxes = append(p.p.Taxes, tax)
	}
	l.parties = append(l.parties, p)
}

func looksLikeEmail(s string) bool {
	at := strings.IndexByte(s, '@')
	return at > 0 && at == strings.LastIndexByte(s, '@') && at < len(s)-1 &&
		!strings.ContainsAny(s, " \t\r\n<>,;") && strings.Contains(s[at+1:], ".")
}

func (l *loader) site(f int, n *yaml.Node, i int) {
	path := itemPath("sites", n, i)
	o := l.object(f, n, path, "a site", siteKeys, "write a site like `- id: coyote-flats` with its fields on the lines below")
	if o == nil {
		l.sitesIncomplete = true
		return
	}
	s := &siteIn{item: item{f: f, node: n, path: path, at: o.vals}, byID: map[string]int{}}
	s.s.Line = n.Line
	s.s.ID, _ = o.id("coyote-flats")
	if s.s.ID == "" {
		l.sitesIncomplete = true
	}
	s.s.Name, _ = o.str("name", true, "Coyote Flats Energy Center")
	s.s.Market, _ = o.str("market", true, "ERCOT")
	if tz, v := o.str("time_zone", true, "America/Chicago"); v != nil {
		loc, err := time.LoadLocation(tz)
		if err != nil || tz == "Local" || strings.TrimSpace(tz) != tz {
			l.report(f, v, join(path, "time_zone"), "use an IANA time zone name like America/Chicago or America/New_York", "unknown time zone %s", quote(tz))
		} else {
			s.s.TimeZone, s.s.Location = tz, loc
		}
	}
	if m, v, ok := o.integer("interval_minutes", true, "15"); ok {
		switch m {
		case 5, 15, 30, 60:
			s.s.IntervalMinutes = m
		default:
			l.report(f, v, join(path, "interval_minutes"), "a settlement interval is 5, 15, 30 or 60 minutes", "%d is not a settlement interval", m)
		}
	}
	s.s.Owner, _ = o.str("owner", true, "mesa-ridge")
	s.s.Grid, _ = o.str("grid", false, "ercot")
	if c, v, ok := o.dec("capacity_mw", true, "1200"); ok {
		if c.Sign() <= 0 {
			l.report(f, v, join(path, "capacity_mw"), "give the plant's capacity in MW, like 1200", "capacity must be more than 0, not %s", v.Value)
		} else {
			s.s.CapacityMW = c
		}
	}
	s.s.GeneratorNode, _ = o.str("generator_node", true, "CFEC_CC1_RN")
	s.s.LoadNode, _ = o.str("load_node", true, "LZ_WEST")
	if eo := o.optSub("emissions", emissionKeys, "add `emissions:` with `heat_rate: 6.9` (MMBtu/MWh) and `grid_kg_per_mwh: 380`"); eo != nil {
		e := &Emissions{FuelKgPerMMBtu: DefaultGasKgPerMMBtu}
		if hr, v, ok := eo.dec("heat_rate", true, "6.9"); ok {
			if hr.Sign() <= 0 || hr.GreaterThan(decimal.NewFromInt(30)) {
				l.report(f, v, join(eo.path, "heat_rate"), "a heat rate is MMBtu of fuel per MWh, about 6 to 12 for a gas plant", "%s is not a plausible heat rate", quote(v.Value))
			} else {
				e.HeatRate = hr
			}
		}
		if ef, v, ok := eo.dec("fuel_kg_per_mmbtu", false, "53.06"); ok {
			if ef.Sign() < 0 || ef.GreaterThan(decimal.NewFromInt(200)) || decimalPlaces(v.Value) > 3 {
				l.report(f, v, join(eo.path, "fuel_kg_per_mmbtu"), "kg CO2e per MMBtu of fuel, 53.06 for natural gas, at most 3 decimals", "%s is not a plausible emission factor", quote(v.Value))
			} else {
				e.FuelKgPerMMBtu = ef
			}
		}
		if gf, v, ok := eo.dec("grid_kg_per_mwh", false, "380"); ok {
			if gf.Sign() < 0 || gf.GreaterThan(decimal.NewFromInt(2000)) || decimalPlaces(v.Value) > 3 {
				l.report(f, v, join(eo.path, "grid_kg_per_mwh"), "kg CO2e per MWh imported, a few hundred for most grids, at most 3 decimals", "%s is not a plausible grid emission factor", quote(v.Value))
			} else {
				e.GridKgPerMWh = gf
			}
		}
		e.GridFactorNode, _ = eo.str("grid_factor_node", false, "ERCOT_GRID_CO2")
		s.s.Emissions = e
	}

	metersNode := o.vals["meters"]
	var gross, aux, poi []*yaml.Node
	meters := o.list("meters", true, "a list of meters, each like `- id: CFEC-GROSS` with `kind: generation_gross`")
	s.metersIncomplete = meters == nil
	kindsKnown := true // every meter's kind could be read
	for j, mn := range meters {
		mpath := itemPath(join(path, "meters"), mn, j)
		mo := l.object(f, mn, mpath, "a meter", meterKeys, "write a meter like `- id: CFEC-GROSS` with `kind: generation_gross` below")
		if mo == nil {
			s.metersIncomplete, kindsKnown = true, false
			continue
		}
		m := Meter{Line: mn.Line}
		mi := item{f: f, node: mn, path: mpath, at: mo.vals}
		var idNode *yaml.Node
		m.ID, idNode = mo.id("CFEC-GROSS")
		if m.ID == "" {
			s.metersIncomplete = true
		}
		kind, kv := mo.str("kind", true, "load")
		kindOK := kv != nil
		switch k := MeterKind(kind); k {
		case MeterGross:
			gross = append(gross, mn)
		case MeterStationService:
			aux = append(aux, mn)
		case MeterPOI:
			poi = append(poi, mn)
		case MeterLoad:
		default:
			if kv != nil {
				kindOK = false
				l.report(f, kv, join(mpath, "kind"), "a meter's kind is generation_gross, station_service, load or poi", "unknown meter kind %s", quote(kind))
			}
		}
		m.Kind = MeterKind(kind)
		party, pv := mo.str("party", m.Kind == MeterLoad, "northwind")
		if pv != nil && m.Kind != MeterLoad && kindOK {
			l.report(f, pv, join(mpath, "party"), "only a load meter names a party, the buyer whose load it measures; remove it", "a %s meter has no party", kind)
			party = ""
		}
		m.Party = party
		node, nv := mo.str("node", false, "LZ_WEST")
		if nv != nil && m.Kind != MeterLoad && kindOK {
			l.report(f, nv, join(mpath, "node"), "only a load meter names the price node its imports are bought at; remove it", "a %s meter has no price node", kind)
			node = ""
		}
		m.Node = node
		if lf, lv, ok := mo.dec("loss_factor", false, "0.015"); ok {
			if lf.Sign() < 0 || !lf.LessThan(decimal.New(2, -1)) {
				l.report(f, lv, join(mpath, "loss_factor"), "a loss factor is the fraction of energy lost between the meter and the point of interconnection, from 0 to below 0.2, like 0.015", "%s is not a plausible loss factor", quote(lv.Value))
			} else {
				m.LossFactor = lf
			}
		}
		if m.ID != "" {
			if first, dup := s.byID[m.ID]; dup {
				l.report(f, idNode, join(mpath, "id"), "meter ids must be unique within a site; rename or remove one",
					"duplicate meter id %s, first at %s", quote(m.ID), l.where(f, s.meters[first].node))
			} else {
				s.byID[m.ID] = len(s.s.Meters)
			}
		}
		s.s.Meters = append(s.s.Meters, m)
		s.meters = append(s.meters, mi)
		s.kindOK = append(s.kindOK, kindOK)
		kindsKnown = kindsKnown && kindOK
	}
	if metersNode != nil && metersNode.Kind == yaml.SequenceNode && len(metersNode.Content) > 0 {
		if len(gross) == 0 && kindsKnown {
			l.report(f, metersNode, join(path, "meters"), "add the plant's gross generation meter: `- id: ...` with `kind: generation_gross`", "no generation_gross meter; a site has at least one (one per unit)")
		}
		for _, extra := range poi[min(1, len(poi)):] {
			l.report(f, extra, join(path, "meters"), "a site has one point of interconnection and at most one poi meter; keep one", "a second poi meter, first at %s", l.where(f, poi[0]))
		}
	}
	l.sites = append(l.sites, s)
}

func (l *loader) contract(f int, n *yaml.Node, i int) {
	path := itemPath("contracts", n, i)
	o := l.object(f, n, path, "a contract", contractKeys, "write a contract like `- id: ppa-northwind` with its terms on the lines below")
	if o == nil {
		return
	}
	c := &contractIn{item: item{f: f, node: n, path: path, at: o.vals}}
	c.c.Line = n.Line
	c.c.Version = 1
	c.c.ID, _ = o.id("ppa-northwind")
	c.c.Kind, c.kindOK = KindPhysical, true
	if kind, v := o.str("kind", false, "physical"); v != nil {
		switch Kind(kind) {
		case KindPhysical, KindVirtual:
			c.c.Kind = Kind(kind)
		default:
			c.kindOK = false
			l.report(f, v, join(path, "kind"), "a contract is physical (energy delivered behind the meter) or virtual (a contract for differences)", "unknown contract kind %s", quote(kind))
		}
	}
	c.c.Seller, _ = o.str("seller", true, "mesa-ridge")
	c.c.Buyer, _ = o.str("buyer", true, "northwind")
	c.c.Site, _ = o.str("site", true, "coyote-flats")
	c.c.Meter, _ = o.str("meter", c.c.Kind == KindPhysical, "DC-NORTHWIND")
	if p, v, ok := o.integer("priority", c.c.Kind == KindPhysical, "1"); ok {
		if p < 1 {
			l.report(f, v, join(path, "priority"), "priority 1 is served first, then 2, and so on", "priority must be 1 or more, not %d", p)
		} else {
			c.c.Priority = p
		}
	}
	start, _, startOK := o.date("start", "2028-01-01")
	end, endNode, endOK := o.date("end", "2043-01-01")
	if startOK && endOK && !start.Before(end) {
		l.report(f, endNode, join(path, "end"), "end is the first day after the term, so a contract for 2028 runs from 2028-01-01 to 2029-01-01",
			"end %s is not after start %s", end, start)
	}
	c.c.Start, c.c.End = start, end
	c.c.Effective = start
	c.c.CalendarID, _ = o.str("calendar", false, "ercot-5x16")
	c.c.Terms.Line = n.Line
	l.terms(c, o, &c.c.Terms, true)
	if c.c.Kind == KindVirtual && c.c.Volume.Shape == ShapeLoadFollowing && c.c.Meter == "" {
		o.missing("meter", "a virtual contract that follows a load names the buyer's load meter: add a line like `meter: DC-NORTHWIND`")
	}
	if startOK && endOK {
		l.amendments(c, o)
	}
	c.c.Rounding = RoundHalfUp
	if r, v := o.str("rounding", false, "half_up"); v != nil {
		switch Rounding(r) {
		case RoundHalfUp, RoundHalfEven:
			c.c.Rounding = Rounding(r)
		default:
			l.report(f, v, join(path, "rounding"), "rounding is half_up, the default, or half_even", "unknown rounding rule %s", quote(r))
		}
	}
	c.c.PaymentTermsDays = 30
	if d, v, ok := o.integer("payment_terms_days", false, "30"); ok {
		if d < 0 || d > 365 {
			l.report(f, v, join(path, "payment_terms_days"), "payment terms are 0 to 365 days; 30 if left out", "%d days is not a payment term", d)
		} else {
			c.c.PaymentTermsDays = d
		}
	}
	l.contracts = append(l.contracts, c)
}

// ---- checks across files, and the result ----

func (l *loader) finish() (*Portfolio, error) {
	parties := map[string]*partyIn{}
	var grids []*partyIn
	rolesIncomplete := false
	prefixes := map[string]*partyIn{}
	for _, p := range l.parties {
		rolesIncomplete = rolesIncomplete || !p.roleOK
		if p.p.ID == "" {
			if p.roleOK && p.p.Role == RoleGrid {
				grids = append(grids, p)
			}
			continue
		}
		if first, dup := parties[p.p.ID]; dup {
			l.report(p.f, p.at["id"], join(p.path, "id"), "party ids must be unique across all contract files; rename or remove one",
				"duplicate party id %s, first at %s", quote(p.p.ID), l.where(first.f, first.at["id"]))
			continue
		}
		parties[p.p.ID] = p
		if p.roleOK && p.p.Role == RoleGrid {
			grids = append(grids, p)
		}
		if pre := p.p.InvoicePrefix; pre != "" {
			if first, dup := prefixes[pre]; dup {
				l.report(p.f, p.at["invoice_prefix"], join(p.path, "invoice_prefix"), "invoice numbers must not collide; give each party its own prefix",
					"invoice prefix %s is already used by party %s at %s", quote(pre), quote(first.p.ID), l.where(first.f, first.at["invoice_prefix"]))
			} else {
				prefixes[pre] = p
			}
		}
	}
	partyList := func(role Role) string {
		var ids []string
		for _, p := range l.parties {
			if p.roleOK && p.p.Role == role && p.p.ID != "" && parties[p.p.ID] == p {
				ids = append(ids, p.p.ID)
			}
		}
		if len(ids) == 0 {
			return fmt.Sprintf("there is no party with role: %s", role)
		}
		return fmt.Sprintf("%s parties: %s", role, strings.Join(ids, ", "))
	}
	// checkParty reports a reference (field key of it) that is not a party of the role.
	checkParty := func(it *item, key, id string, role Role, why string) (*partyIn, bool) {
		p, ok := parties[id]
		if !ok {
			if !l.partiesIncomplete {
				l.report(it.f, it.nodeOr(key), join(it.path, key), why+"; "+partyList(role), "no party %s", quote(id))
			}
			return nil, false
		}
		if p.roleOK && p.p.Role != role {
			l.report(it.f, it.nodeOr(key), join(it.path, key), why+"; "+partyList(role), "party %s is a %s, not a %s", quote(id), p.p.Role, role)
			return p, false
		}
		return p, p.roleOK
	}

	sites := map[string]*siteIn{}
	for _, s := range l.sites {
		if s.s.ID != "" {
			if first, dup := sites[s.s.ID]; dup {
				l.report(s.f, s.at["id"], join(s.path, "id"), "site ids must be unique across all contract files; rename or remove one",
					"duplicate site id %s, first at %s", quote(s.s.ID), l.where(first.f, first.at["id"]))
			} else {
				sites[s.s.ID] = s
			}
		}
		if s.s.Owner != "" {
			_, s.ownerOK = checkParty(&s.item, "owner", s.s.Owner, RoleSeller, "a site's owner is the plant owner, a party with role: seller")
		}
		switch {
		case s.s.Grid != "":
			checkParty(&s.item, "grid", s.s.Grid, RoleGrid, "a site's grid is the ISO, a party with role: grid")
		case len(grids) == 1:
			if grids[0].p.ID != "" {
				s.s.Grid = grids[0].p.ID
			}
		case len(grids) == 0:
			if l.partiesIncomplete || rolesIncomplete {
				break // the grid party may be the one that could not be read
			}
			l.report(s.f, s.node, join(s.path, "grid"), "add a party with role: grid, the ISO that takes exports and supplies imports", "no grid party to connect the site to")
		default:
			l.report(s.f, s.node, join(s.path, "grid"), "add `grid: ID` to the site; "+partyList(RoleGrid), "there are %d grid parties; say which one the site is on", len(grids))
		}
		s.partyOK = make([]bool, len(s.s.Meters))
		for i := range s.s.Meters {
			m := &s.s.Meters[i]
			if m.Kind == MeterLoad && m.Party != "" {
				_, s.partyOK[i] = checkParty(&s.meters[i], "party", m.Party, RoleBuyer, "a load meter measures a buyer's data center, a party with role: buyer")
			}
		}
	}

	calendars := map[string]*calendarIn{}
	for _, c := range l.calendars {
		if c.c.ID == "" {
			continue
		}
		if first, dup := calendars[c.c.ID]; dup {
			l.report(c.f, c.at["id"], join(c.path, "id"), "calendar ids must be unique across all contract files; rename or remove one",
				"duplicate calendar id %s, first at %s", quote(c.c.ID), l.where(first.f, first.at["id"]))
			continue
		}
		calendars[c.c.ID] = c
	}

	contracts := map[string]*contractIn{}
	for _, c := range l.contracts {
		l.checkTerms(c, calendars)
		if c.c.ID != "" {
			if first, dup := contracts[c.c.ID]; dup {
				l.report(c.f, c.at["id"], join(c.path, "id"), "contract ids must be unique across all contract files; rename or remove one",
					"duplicate contract id %s, first at %s", quote(c.c.ID), l.where(first.f, first.at["id"]))
			} else {
				contracts[c.c.ID] = c
			}
		}
		l.checkContract(c, sites, checkParty)
	}

	if len(l.problems) > 0 {
		sort.SliceStable(l.problems, func(i, j int) bool {
			a, b := l.problems[i], l.problems[j]
			if a.file != b.file {
				return a.file < b.file
			}
			if a.line != b.line {
				return a.line < b.line
			}
			return a.col < b.col
		})
		errs := make(offtake.Errors, len(l.problems))
		for i, p := range l.problems {
			errs[i] = p.err
		}
		return nil, errs
	}

	pf := &Portfolio{}
	for _, p := range l.parties {
		pf.Parties = append(pf.Parties, p.p)
	}
	for _, c := range l.calendars {
		pf.Calendars = append(pf.Calendars, c.c)
	}
	for i := range pf.Calendars {
		pf.Calendars[i].Prepare()
	}
	for _, s := range l.sites {
		pf.Sites = append(pf.Sites, s.s)
	}
	for _, c := range l.contracts {
		c.c.Calendar = nil
		if c.c.CalendarID != "" {
			c.c.Calendar, _ = pf.Calendar(c.c.CalendarID)
		}
		pf.Contracts = append(pf.Contracts, c.c)
	}
	for i := range pf.Contracts {
		pf.Contracts[i].Prepare()
	}
	return pf, nil
}

// checkContract checks a contract's references: its seller owns the site, its
// buyer is a buyer, and its meter is that buyer's load meter at the site.
func (l *loader) checkContract(c *contractIn, sites map[string]*siteIn, checkParty func(*item, string, string, Role, string) (*partyIn, bool)) {
	var site *siteIn
	if c.c.Site != "" {
		var ok bool
		if site, ok = sites[c.c.Site]; !ok && !l.sitesIncomplete {
			var ids []string
			for _, s := range l.sites {
				if s.s.ID != "" && sites[s.s.ID] == s {
					ids = append(ids, s.s.ID)
				}
			}
			hint := "there is no site defined"
			if len(ids) > 0 {
				hint = "sites: " + strings.Join(ids, ", ")
			}
			l.report(c.f, c.nodeOr("site"), join(c.path, "site"), hint, "no site %s", quote(c.c.Site))
		}
	}
	if c.c.Seller != "" {
		if _, ok := checkParty(&c.item, "seller", c.c.Seller, RoleSeller, "a contract's seller is the plant owner, a party with role: seller"); ok &&
			site != nil && site.ownerOK && site.s.Owner != c.c.Seller {
			l.report(c.f, c.nodeOr("seller"), join(c.path, "seller"), fmt.Sprintf("the seller must own the site: write `seller: %s`", site.s.Owner),
				"party %s does not own site %s; its owner is %s", quote(c.c.Seller), quote(site.s.ID), quote(site.s.Owner))
		}
	}
	buyerOK := false
	if c.c.Buyer != "" {
		_, buyerOK = checkParty(&c.item, "buyer", c.c.Buyer, RoleBuyer, "a contract's buyer is a data-center operator, a party with role: buyer")
	}
	if site == nil || c.c.Meter == "" {
		return
	}
	if c.c.Kind == KindVirtual {
		if _, ok := site.byID[c.c.Meter]; !ok && !site.metersIncomplete {
			l.report(c.f, c.nodeOr("meter"), join(c.path, "meter"), "a virtual contract's meter is the load whose consumption sets its volume; name a load meter of the site or remove it",
				"site %s has no meter %s", quote(site.s.ID), quote(c.c.Meter))
		}
		return
	}
	var own []string // the buyer's load meters at the site
	for _, m := range site.s.Meters {
		if m.Kind == MeterLoad && m.Party == c.c.Buyer && m.ID != "" {
			own = append(own, m.ID)
		}
	}
	hint := fmt.Sprintf("the meter is the buyer's load meter at the site; %s has none at %s: add one under sites[%s].meters with kind: load and party: %s",
		c.c.Buyer, site.s.ID, site.s.ID, c.c.Buyer)
	if len(own) > 0 {
		hint = fmt.Sprintf("the meter is the buyer's load meter at the site: %s", strings.Join(own, ", "))
	}
	i, ok := site.byID[c.c.Meter]
	if !ok {
		if site.metersIncomplete {
			return // the meter may be one that could not be read
		}
		l.report(c.f, c.nodeOr("meter"), join(c.path, "meter"), hint, "site %s has no meter %s", quote(site.s.ID), quote(c.c.Meter))
		return
	}
	m := site.s.Meters[i]
	switch {
	case !site.kindOK[i]:
	case m.Kind != MeterLoad:
		l.report(c.f, c.nodeOr("meter"), join(c.path, "meter"), hint, "meter %s is a %s meter, not a load meter", quote(m.ID), m.Kind)
	case buyerOK && site.partyOK[i] && m.Party != c.c.Buyer:
		l.report(c.f, c.nodeOr("meter"), join(c.path, "meter"), hint, "meter %s belongs to %s, not to the buyer %s", quote(m.ID), quote(m.Party), quote(c.c.Buyer))
	}
}
