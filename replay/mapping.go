package replay

import (
	"bytes"
	"fmt"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"

	"github.com/offtake/offtake"
	"github.com/offtake/offtake/contracts"
	"github.com/shopspring/decimal"
	"go.yaml.in/yaml/v3"
)

// A mapping file says which files to replay and how, in YAML:
//
//	site: laurel-run            # the site of every file (default: the only one)
//	from: 2025-07-01            # optional window, local dates in the site's zone
//	to: 2025-08-01
//	files:
//	  - file: pjm_rto_hrl_load_metered_2025.csv   # relative to the mapping file
//	    format: pjm-load
//	    meter: DC-LOAD
//	    scale: 0.002
//	  - file: rt_hrl_lmps.csv
//	    format: pjm-lmp
//	    nodes: {WESTERN HUB: PJM_WESTERN_HUB}
type mappingFile struct {
	Site  string        `yaml:"site"`
	From  string        `yaml:"from"`
	To    string        `yaml:"to"`
	Files []mappingItem `yaml:"files"`
}

type mappingItem struct {
	File             string            `yaml:"file"`
	Format           string            `yaml:"format"`
	Site             string            `yaml:"site"`
	Meter            string            `yaml:"meter"`
	Meters           map[string]string `yaml:"meters"`
	Node             string            `yaml:"node"`
	Nodes            map[string]string `yaml:"nodes"`
	Market           string            `yaml:"market"`
	Column           string            `yaml:"column"`
	Area             string            `yaml:"area"`
	Unit             string            `yaml:"unit"`
	Scale            yaml.Node         `yaml:"scale"`
	TimeZone         string            `yaml:"time_zone"`
	RepairMergedHour bool              `yaml:"repair_merged_hour"`
	SkipEmpty        bool              `yaml:"skip_empty"`
	FillDays         bool              `yaml:"fill_days"`
	From             string            `yaml:"from"`
	To               string            `yaml:"to"`
}

var yamlLine = regexp.MustCompile(`line ([0-9]+): (.*)`)

// LoadMapping reads a mapping file and the files it names (read is given
// paths relative to the mapping file's folder). Every mistake names
// name:line.
func LoadMapping(name string, data []byte, read func(path string) ([]byte, error)) ([]Source, error) {
	var m mappingFile
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	if err := dec.Decode(&m); err != nil {
		msg := strings.TrimPrefix(err.Error(), "yaml: ")
		msg = strings.ReplaceAll(msg, "unmarshal errors:\n  ", "")
		place := name
		if g := yamlLine.FindStringSubmatch(msg); g != nil {
			place, msg = name+":"+g[1], g[2]
		}
		return nil, &offtake.Error{Place: place, Msg: msg, Hint: "a mapping file has site:, files: (each with file:, format: and meter:/meters:/node:/nodes:), optional from: and to:"}
	}
	var root yaml.Node
	_ = yaml.Unmarshal(data, &root)
	lines := fileLines(&root)
	if len(m.Files) == 0 {
		return nil, &offtake.Error{Place: name, Field: "files", Msg: "no files to replay", Hint: "files: - {file: load.csv, format: pjm-load, meter: DC-LOAD}"}
	}
	var errs offtake.Errors
	from, e1 := optDate(name, 0, "from", m.From)
	to, e2 := optDate(name, 0, "to", m.To)
	for _, e := range []*offtake.Error{e1, e2} {
		if e != nil {
			errs = append(errs, e)
		}
	}
	var out []Source
	for i, it := range m.Files {
		line := 0
		if i < len(lines) {
			line = lines[i]
		}
		place := fmt.Sprintf("%s:%d", name, line)
		field := fmt.Sprintf("files[%d]", i)
		if it.File == "" {
			errs = append(errs, &offtake.Error{Place: place, Field: field + ".file", Msg: "missing"})
			continue
		}
		path := it.File
		if !filepath.IsAbs(path) {
			path = filepath.Join(filepath.Dir(name), path)
		}
		body, err := read(path)
		if err != nil {
			errs = append(errs, &offtake.Error{Place: place, Field: field + ".file", Msg: fmt.Sprintf("cannot read %s: %v", path, unwrapPath(err))})
			continue
		}
		src := Source{
			File: path, Data: body, Format: Format(it.Format), Site: it.Site, Meter: it.Meter, Meters: it.Meters,
			Node: it.Node, Nodes: it.Nodes, Market: it.Market, Column: it.Column, Area: it.Area, Unit: it.Unit,
			TimeZone: it.TimeZone, RepairMergedHour: it.RepairMergedHour, SkipEmpty: it.SkipEmpty, FillDays: it.FillDays,
			From: from, To: to, Line: line,
		}
		if src.Site == "" {
			src.Site = m.Site
		}
		if it.Scale.Kind != 0 {
			d, err := decimal.NewFromString(it.Scale.Value)
			if err != nil || d.Sign() <= 0 {
				errs = append(errs, &offtake.Error{Place: fmt.Sprintf("%s:%d", name, it.Scale.Line), Field: field + ".scale", Msg: fmt.Sprintf("%q is not a positive decimal", it.Scale.Value), Hint: "like 0.002"})
				continue
			}
			src.Scale = d
		}
		if f, e := optDate(name, line, field+".from", it.From); e != nil {
			errs = append(errs, e)
		} else if !f.IsZero() {
			src.From = f
		}
		if t, e := optDate(name, line, field+".to", it.To); e != nil {
			errs = append(errs, e)
		} else if !t.IsZero() {
			src.To = t
		}
		out = append(out, src)
	}
	return out, errs.Err()
}

func unwrapPath(err error) string {
	s := err.Error()
	if i := strings.LastIndex(s, ": "); i >= 0 {
		return s[i+2:]
	}
	return s
}

func optDate(name string, line int, field, s string) (contracts.Date, *offtake.Error) {
	if s == "" {
		return contracts.Date{}, nil
	}
	d, err := contracts.ParseDate(s)
	if err != nil {
		place := name
		if line > 0 {
			place += ":" + strconv.Itoa(line)
		}
		return d, &offtake.Error{Place: place, Field: field, Msg: err.Error()}
	}
	return d, nil
}

// fileLines finds the line of each entry of files: in a mapping file.
func fileLines(root *yaml.Node) []int {
	if root.Kind != yaml.DocumentNode || len(root.Content) == 0 {
		return nil
	}
	m := root.Content[0]
	for i := 0; i+1 < len(m.Content); i += 2 {
		if m.Content[i].Value == "files" && m.Content[i+1].Kind == yaml.SequenceNode {
			var out []int
			for _, n := range m.Content[i+1].Content {
				out = append(out, n.Line)
			}
			return out
		}
	}
	return nil
}

// ParseMap reads NAME=VALUE pairs given on the command line (--meter
// WEST_LOAD=DC-1); a value without "=" is returned as the single target.
func ParseMap(flag string, vals []string) (single string, pairs map[string]string, err error) {
	for _, v := range vals {
		k, t, ok := strings.Cut(v, "=")
		switch {
		case !ok && single == "" && len(pairs) == 0 && len(vals) == 1:
			single = v
		case ok && k != "" && t != "":
			if pairs == nil {
				pairs = map[string]string{}
			}
			pairs[k] = t
		default:
			return "", nil, &offtake.Error{Place: "--" + flag, Msg: fmt.Sprintf("%q: give one target, or NAME=TARGET pairs", v)}
		}
	}
	return single, pairs, nil
}

// sortedKeys lists a map's keys in order, for messages.
func sortedKeys(m map[string]string) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}
