// Package grafana_test checks deploy/grafana: the dashboards' structure
// (they load in Grafana and take their datasource from the variable, so
// they work on any Prometheus), and that the provisioning files point
// where docker-compose.yml mounts them. Whether the metrics the panels
// name exist is e2e/ops's test.
package grafana_test

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
	"gopkg.in/yaml.v3"
)

type panel struct {
	ID         int    `json:"id"`
	Type       string `json:"type"`
	Title      string `json:"title"`
	Datasource *struct {
		Type string `json:"type"`
		UID  string `json:"uid"`
	} `json:"datasource"`
	GridPos struct{ X, Y, W, H int } `json:"gridPos"`
	Targets []struct {
		RefID string `json:"refId"`
		Expr  string `json:"expr"`
	} `json:"targets"`
	Panels []panel `json:"panels"`
}

type dashboard struct {
	UID        string   `json:"uid"`
	Title      string   `json:"title"`
	Tags       []string `json:"tags"`
	Templating struct {
		List []struct {
			Name  string `json:"name"`
			Type  string `json:"type"`
			Query any    `json:"query"`
		} `json:"list"`
	} `json:"templating"`
	Panels []panel `json:"panels"`
}

// TestDashboards: the four dashboards, each with a uid of its file's
// name, the datasource variable every panel uses, unique panel ids, and
// panels inside Grafana's 24-column grid with at least one expression.
func TestDashboards(t *testing.T) {
	t.Parallel()
	files, err := filepath.Glob("dashboards/*.json")
	require.NoError(t, err)
	var names []string
	for _, f := range files {
		names = append(names, strings.TrimSuffix(filepath.Base(f), ".json"))
	}
	require.ElementsMatch(t, []string{"cluster", "orders", "realtime", "worker"}, names)

	uids := map[string]bool{}
	for _, f := range files {
		t.Run(filepath.Base(f), func(t *testing.T) {
			data, err := os.ReadFile(f)
			require.NoError(t, err)
			var d dashboard
			dec := json.NewDecoder(bytes.NewReader(data))
			require.NoError(t, dec.Decode(&d))
			name := strings.TrimSuffix(filepath.Base(f), ".json")
			require.Equal(t, "outrider-"+name, d.UID)
			require.False(t, uids[d.UID])
			uids[d.UID] = true
			require.True(t, strings.HasPrefix(d.Title, "Outrider / "), d.Title)
			require.Contains(t, d.Tags, "outrider", "the dashboards link to each other by this tag")

			hasDS := false
			for _, v := range d.Templating.List {
				if v.Name == "datasource" {
					hasDS = v.Type == "datasource" && v.Query == "prometheus"
				}
			}
			require.True(t, hasDS, "no datasource variable of type prometheus")

			ids := map[int]bool{}
			var check func(ps []panel)
			check = func(ps []panel) {
				for _, p := range ps {
					require.False(t, ids[p.ID], "panel id %d twice", p.ID)
					ids[p.ID] = true
					require.Positive(t, p.GridPos.W, p.Title)
					require.Positive(t, p.GridPos.H, p.Title)
					require.LessOrEqual(t, p.GridPos.X+p.GridPos.W, 24, p.Title)
					if p.Type == "row" {
						check(p.Panels)
						continue
					}
					require.NotEmpty(t, p.Title, "panel %d", p.ID)
					require.NotNil(t, p.Datasource, p.Title)
					require.Equal(t, "${datasource}", p.Datasource.UID, "%s: use the datasource variable", p.Title)
					require.NotEmpty(t, p.Targets, p.Title)
					refs := map[string]bool{}
					for _, tg := range p.Targets {
						require.NotEmpty(t, tg.Expr, p.Title)
						require.False(t, refs[tg.RefID], "%s: refId %s twice", p.Title, tg.RefID)
						refs[tg.RefID] = true
					}
				}
			}
			check(d.Panels)
			require.Greater(t, len(ids), 8, "so few panels")
		})
	}
}

// TestProvisioning: the dashboard provider reads the folder
// docker-compose.yml mounts the dashboards at, and the datasource's URL
// is the PROMETHEUS_URL compose gives Grafana.
func TestProvisioning(t *testing.T) {
	t.Parallel()
	var providers struct {
		Providers []struct {
			Type    string `yaml:"type"`
			Options struct {
				Path string `yaml:"path"`
			} `yaml:"options"`
		} `yaml:"providers"`
	}
	readYAML(t, "provisioning/dashboards/outrider.yml", &providers)
	require.Len(t, providers.Providers, 1)
	require.Equal(t, "file", providers.Providers[0].Type)

	var sources struct {
		Datasources []struct {
			UID  string `yaml:"uid"`
			Type string `yaml:"type"`
			URL  string `yaml:"url"`
		} `yaml:"datasources"`
	}
	readYAML(t, "provisioning/datasources/outrider.yml", &sources)
	require.Len(t, sources.Datasources, 1)
	require.Equal(t, "prometheus", sources.Datasources[0].Type)
	require.Equal(t, "${PROMETHEUS_URL}", sources.Datasources[0].URL)

	var compose struct {
		Services map[string]struct {
			Environment map[string]string `yaml:"environment"`
			Volumes     []string          `yaml:"volumes"`
		} `yaml:"services"`
	}
	readYAML(t, "../../docker-compose.yml", &compose)
	g, ok := compose.Services["grafana"]
	require.True(t, ok, "docker-compose.yml has no grafana service")
	require.NotEmpty(t, g.Environment["PROMETHEUS_URL"])
	require.Contains(t, g.Volumes, "./deploy/grafana/dashboards:"+providers.Providers[0].Options.Path+":ro")
	require.Contains(t, g.Volumes, "./deploy/grafana/provisioning:/etc/grafana/provisioning:ro")
}

func readYAML(t *testing.T, path string, v any) {
	t.Helper()
	data, err := os.ReadFile(path)
	require.NoError(t, err)
	require.NoError(t, yaml.Unmarshal(data, v), path)
}
