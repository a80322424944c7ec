package main

import (
	"flag"
	"os"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/outrider/outrider/cmd/outrider/app"
)

// readmeProse is what the README's Configuration table says in words
// where a default is not a plain value, mapped to the flag default it
// stands for.
var readmeProse = map[string]string{
	"local postgres db":       "postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable",
	"http://localhost:<port>": "", // filled in at start-up from the listener
	"any free":                "0",
	"open-file limit − 1,024": "0", // ws.Config.MaxSessionsNode's default, computed at start-up
}

// TestReadmeConfigurationDefaults checks every default the README's
// Configuration table states against the default of the flag it names
// (what `outrider serve --help` and `outrider dev --help` print), so the
// README cannot drift from the code. A row lists variables separated by
// " / " (a name starting with "_" shares the words before it with the one
// it follows: `OUTRIDER_RATE_PER_SECOND` / `_RATE_BURST`) and either one
// default for all of them or one each; "—" and "none" mean empty (or
// zero), and a trailing "(…)" is a remark.
func TestReadmeConfigurationDefaults(t *testing.T) {
	for _, kv := range os.Environ() {
		if k, _, _ := strings.Cut(kv, "="); strings.HasPrefix(k, "OUTRIDER_") {
			t.Setenv(k, "") // restored after the test
			os.Unsetenv(k)
		}
	}
	var sets []*flag.FlagSet
	for _, mode := range []string{"serve", "dev"} {
		var (
			cfg app.Config
			opt options
			v   rawFlags
		)
		fs, _ := flags(mode, &cfg, &opt, &v)
		sets = append(sets, fs)
	}
	type modeFlag struct {
		mode string
		*flag.Flag
	}
	lookup := func(name string) []modeFlag {
		var out []modeFlag
		for _, fs := range sets {
			if f := fs.Lookup(name); f != nil {
				out = append(out, modeFlag{fs.Name(), f})
			}
		}
		return out
	}

	rows := readmeConfigRows(t)
	if len(rows) < 20 {
		t.Fatalf("found %d rows in README.md's Configuration table; has its layout changed?", len(rows))
	}
	checked := 0
	for _, row := range rows {
		names := resolveNames(t, row.vars, func(n string) bool { return len(lookup(flagName(n))) > 0 })
		defs := row.defaults
		if len(defs) == 1 {
			for len(defs) < len(names) {
				defs = append(defs, defs[0])
			}
		}
		if len(defs) != len(names) {
			t.Errorf("README row %s: %d defaults for %d variables; give one for all or one each", row.raw, len(row.defaults), len(names))
			continue
		}
		for i, n := range names {
			fls := lookup(flagName(n))
			if len(fls) == 0 {
				t.Errorf("README names %s, but neither serve nor dev has a flag --%s", n, flagName(n))
				continue
			}
			for _, f := range fls {
				if !sameDefault(t, f.Flag, defs[i]) {
					t.Errorf("README says %s defaults to %q; outrider %s --%s defaults to %q", n, defs[i], f.mode, f.Name, f.DefValue)
				}
				checked++
			}
		}
	}
	t.Logf("checked %d README defaults against the flags", checked)
}

type readmeRow struct {
	raw      string
	vars     []string
	defaults []string
}

// readmeConfigRows reads the variable rows of README.md's Configuration table.
func readmeConfigRows(t *testing.T) []readmeRow {
	t.Helper()
	b, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	_, sec, ok := strings.Cut(string(b), "\n## Configuration\n")
	if !ok {
		t.Fatal("README.md has no ## Configuration section")
	}
	sec, _, _ = strings.Cut(sec, "\n## ")
	remark := regexp.MustCompile(`\s*\([^)]*\)$`)
	var rows []readmeRow
	for _, line := range strings.Split(sec, "\n") {
		if !strings.HasPrefix(line, "| `OUTRIDER_") {
			continue
		}
		cells := strings.Split(line, "|")
		if len(cells) < 4 {
			t.Fatalf("README row %q: want | variables | default | description |", line)
		}
		r := readmeRow{raw: strings.TrimSpace(cells[1])}
		for _, v := range strings.Split(cells[1], " / ") {
			r.vars = append(r.vars, strings.Trim(strings.TrimSpace(v), "`"))
		}
		d := remark.ReplaceAllString(strings.TrimSpace(cells[2]), "")
		for _, v := range strings.Split(d, " / ") {
			r.defaults = append(r.defaults, strings.ReplaceAll(strings.TrimSpace(v), "`", ""))
		}
		rows = append(rows, r)
	}
	return rows
}

// resolveNames expands the "_SUFFIX" shorthands of a row into full
// variable names: the suffix replaces the fewest trailing words of the
// previous name that make a name some flag has.
func resolveNames(t *testing.T, vars []string, exists func(string) bool) []string {
	t.Helper()
	var out []string
	for i, v := range vars {
		if strings.HasPrefix(v, "OUTRIDER_") {
			out = append(out, v)
			continue
		}
		if i == 0 || !strings.HasPrefix(v, "_") {
			t.Errorf("README variable %q: want OUTRIDER_… or _SUFFIX after one", v)
			continue
		}
		words := strings.Split(strings.TrimPrefix(out[len(out)-1], "OUTRIDER_"), "_")
		name := ""
		for keep := len(words); keep >= 0; keep-- {
			c := "OUTRIDER_" + strings.Join(words[:keep], "_") + v
			if keep == 0 {
				c = "OUTRIDER" + v
			}
			if exists(c) {
				name = c
				break
			}
		}
		if name == "" {
			t.Errorf("README variable %q after %s names no flag", v, out[len(out)-1])
			continue
		}
		out = append(out, name)
	}
	return out
}

func flagName(env string) string {
	return strings.ReplaceAll(strings.ToLower(strings.TrimPrefix(env, "OUTRIDER_")), "_", "-")
}

// sameDefault reports whether the README's default readme is f's.
func sameDefault(t *testing.T, f *flag.Flag, readme string) bool {
	t.Helper()
	if p, ok := readmeProse[readme]; ok {
		readme = p
	}
	empty := readme == "—" || readme == "none"
	switch def := f.Value.(flag.Getter).Get().(type) {
	case string:
		return (empty && def == "") || readme == def
	case bool:
		b, err := strconv.ParseBool(readme)
		return (empty && !def) || (err == nil && b == def)
	case int:
		n, err := strconv.Atoi(readme)
		return (empty && def == 0) || (err == nil && n == def)
	case float64:
		x, err := strconv.ParseFloat(readme, 64)
		return (empty && def == 0) || (err == nil && x == def)
	case time.Duration:
		d, err := time.ParseDuration(readme)
		return (empty && def == 0) || (err == nil && d == def)
	default:
		t.Fatalf("--%s: flag of type %T", f.Name, def)
		return false
	}
}
