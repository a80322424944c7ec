package main

import (
	"bytes"
	"flag"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
	"gopkg.in/yaml.v3"

	"github.com/outrider/outrider/cmd/outrider/app"
)

// composeFile is what the tests rely on of docker-compose.yml. There is
// no Docker engine on the machines that test: the file's structure is
// checked here instead of by running it.
type composeFile struct {
	Services map[string]composeService `yaml:"services"`
}

type composeService struct {
	Image       string `yaml:"image"`
	Build       any    `yaml:"build"`
	Healthcheck *struct {
		Test    []string `yaml:"test"`
		Disable bool     `yaml:"disable"`
	} `yaml:"healthcheck"`
	// The long form only: a dependency says what it waits for.
	DependsOn map[string]struct {
		Condition string `yaml:"condition"`
	} `yaml:"depends_on"`
	Environment map[string]string `yaml:"environment"`
	Ports       []string          `yaml:"ports"`
	Volumes     []string          `yaml:"volumes"`
}

func readCompose(t *testing.T) ([]byte, composeFile) {
	t.Helper()
	data, err := os.ReadFile("../../docker-compose.yml")
	require.NoError(t, err)
	var f composeFile
	require.NoError(t, yaml.Unmarshal(data, &f), "docker-compose.yml")
	require.GreaterOrEqual(t, len(f.Services), 6, "docker-compose.yml: so few services; has its layout changed?")
	return data, f
}

// isNode: a service running the outrider image (built here).
func (s composeService) isNode() bool { return s.Build != nil }

// pinned holds the forms of an exact release: x.y.z (with a v, and a
// variant such as -alpine, or not), MinIO's RELEASE.<time>, and for
// images whose releases are two numbers (PostgreSQL since 10: 15.17 is
// exact) x.y. Never latest, never a bare major or minor.
var (
	pinnedTag   = regexp.MustCompile(`^v?\d+\.\d+\.\d+(-[A-Za-z0-9.]+)?$`)
	releaseTag  = regexp.MustCompile(`^RELEASE\.\d{4}-\d{2}-\d{2}T\d{2}-\d{2}-\d{2}Z$`)
	twoPartTag  = regexp.MustCompile(`^\d+\.\d+(-[A-Za-z0-9.]+)?$`)
	twoPartRepo = []string{"postgres"}
)

// TestComposeStructure checks docker-compose.yml: every image pinned to
// an exact release, a healthcheck on every service, dependencies on
// services that exist, the nodes waiting for their servers to be
// healthy, and bind mounts of files that exist.
func TestComposeStructure(t *testing.T) {
	_, f := readCompose(t)
	for name, s := range f.Services {
		t.Run(name, func(t *testing.T) {
			require.NotNil(t, s.Healthcheck, "no healthcheck")
			require.False(t, s.Healthcheck.Disable, "healthcheck disabled")
			require.NotEmpty(t, s.Healthcheck.Test, "healthcheck without a test")
			require.Contains(t, []string{"CMD", "CMD-SHELL"}, s.Healthcheck.Test[0], "healthcheck test %v", s.Healthcheck.Test)

			if !s.isNode() {
				require.NotEmpty(t, s.Image, "neither an image nor a build")
				repo, tag, _ := strings.Cut(strings.SplitN(s.Image, "@", 2)[0], ":")
				if i := strings.LastIndex(repo, "/"); i >= 0 && strings.Contains(repo[i:], ":") {
					t.Fatalf("image %s: cannot tell its tag", s.Image)
				}
				ok := pinnedTag.MatchString(tag) || releaseTag.MatchString(tag) ||
					(slices.Contains(twoPartRepo, repo) && twoPartTag.MatchString(tag))
				require.True(t, ok, "image %s is not pinned to an exact release (x.y.z or RELEASE.…; never latest or a bare major)", s.Image)
			}

			for dep, d := range s.DependsOn {
				target, exists := f.Services[dep]
				require.True(t, exists, "depends on %s, which is no service", dep)
				require.Contains(t, []string{"service_started", "service_healthy", "service_completed_successfully"}, d.Condition, "depends on %s", dep)
				if s.isNode() && !target.isNode() {
					require.Equal(t, "service_healthy", d.Condition, "a node must wait for %s to be healthy, not only started", dep)
				}
			}

			for _, v := range s.Volumes {
				src, _, _ := strings.Cut(v, ":")
				if strings.HasPrefix(src, ".") {
					_, err := os.Stat(filepath.Join("../..", src))
					require.NoError(t, err, "bind mount %s", v)
				}
			}
		})
	}
	nodes := 0
	for _, s := range f.Services {
		if s.isNode() {
			nodes++
			for _, dep := range []string{"postgres", "nats", "minio"} {
				require.Contains(t, s.DependsOn, dep)
			}
		}
	}
	require.GreaterOrEqual(t, nodes, 3, "the compose file's cluster")
}

// TestComposeOutriderNames checks every OUTRIDER_* name in
// docker-compose.yml, comments included, against the variables
// `outrider serve --help` lists: a misspelt one is silently ignored by
// the node.
func TestComposeOutriderNames(t *testing.T) {
	data, _ := readCompose(t)
	var cfg app.Config
	var opt options
	var v rawFlags
	fs, _ := flags("serve", &cfg, &opt, &v)
	var known []string
	fs.VisitAll(func(fl *flag.Flag) { known = append(known, envName(fl.Name)) })
	names := regexp.MustCompile(`OUTRIDER_[A-Z0-9_]+`).FindAll(data, -1)
	require.NotEmpty(t, names)
	seen := map[string]bool{}
	for _, n := range names {
		if name := string(n); !seen[name] {
			seen[name] = true
			if !slices.Contains(known, name) {
				t.Errorf("docker-compose.yml names %s, which `outrider serve --help` does not list", name)
			}
		}
	}
}

// TestComposePresignedURLsReachTheHost: the S3 endpoint presigned URLs
// name (OUTRIDER_S3_PUBLIC_ENDPOINT) is a port on the host, published by
// the service the nodes talk to (OUTRIDER_S3_ENDPOINT), from the port
// the nodes use. Phones and browsers follow those URLs; a name only the
// compose network resolves (minio:9000) fails for them.
func TestComposePresignedURLsReachTheHost(t *testing.T) {
	_, f := readCompose(t)
	for name, s := range f.Services {
		if !s.isNode() {
			continue
		}
		public := s.Environment["OUTRIDER_S3_PUBLIC_ENDPOINT"]
		internal := s.Environment["OUTRIDER_S3_ENDPOINT"]
		require.NotEmpty(t, public, "%s: OUTRIDER_S3_PUBLIC_ENDPOINT", name)
		svc, port, ok := strings.Cut(internal, ":")
		require.True(t, ok, "%s: OUTRIDER_S3_ENDPOINT %q is not service:port", name, internal)
		require.Contains(t, f.Services, svc, "%s: OUTRIDER_S3_ENDPOINT names no service", name)
		host, hostPort, ok := strings.Cut(public, ":")
		require.True(t, ok, "%s: OUTRIDER_S3_PUBLIC_ENDPOINT %q is not host:port", name, public)
		require.Contains(t, []string{"localhost", "127.0.0.1"}, host, "%s: the host reaches its own published ports", name)
		require.Contains(t, f.Services[svc].Ports, hostPort+":"+port,
			"%s: presigned URLs name %s, but %s does not publish its port %s there", name, public, svc, port)
	}
}

// TestComposeNodeHealthcheck runs the nodes' healthcheck command as the
// image would, against a server that stands in for the node's /readyz:
// it must succeed on 200 and fail on 503. The binary must be where the
// Dockerfile puts it.
func TestComposeNodeHealthcheck(t *testing.T) {
	_, f := readCompose(t)
	dockerfile, err := os.ReadFile("../../Dockerfile")
	require.NoError(t, err)
	for name, s := range f.Services {
		if !s.isNode() {
			continue
		}
		test := s.Healthcheck.Test
		require.GreaterOrEqual(t, len(test), 3, "%s: %v", name, test)
		require.Equal(t, "CMD", test[0], "%s: the image has no shell", name)
		require.True(t, bytes.Contains(dockerfile, []byte(" "+test[1]+"\n")) || bytes.Contains(dockerfile, []byte(test[1]+"\"]")),
			"%s: the healthcheck runs %s, which the Dockerfile does not install", name, test[1])
		args := slices.Clone(test[2:])
		i := slices.Index(args, "--url")
		require.GreaterOrEqual(t, i, 0, "%s: %v", name, test)
		u, err := url.Parse(args[i+1])
		require.NoError(t, err)
		require.Equal(t, "/readyz", u.Path, "%s: a node is healthy when ready", name)

		for _, tc := range []struct {
			status int
			ok     bool
		}{{http.StatusOK, true}, {http.StatusServiceUnavailable, false}} {
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				if r.URL.Path != u.Path {
					http.NotFound(w, r)
					return
				}
				w.WriteHeader(tc.status)
			}))
			args[i+1] = srv.URL + u.Path
			err := run(args)
			srv.Close()
			if tc.ok {
				require.NoError(t, err, "%s: outrider %s against a ready node", name, strings.Join(args, " "))
			} else {
				require.Error(t, err, "%s: outrider %s against a node that is not ready", name, strings.Join(args, " "))
			}
		}
	}
}

// TestDockerignoreKeepsDataOut: the build context must not carry a local
// `make run`'s data/ (the dev JWT key, the demo accounts' passwords).
func TestDockerignoreKeepsDataOut(t *testing.T) {
	data, err := os.ReadFile("../../.dockerignore")
	require.NoError(t, err)
	var lines []string
	for l := range strings.Lines(string(data)) {
		lines = append(lines, strings.TrimSpace(l))
	}
	require.True(t, slices.ContainsFunc(lines, func(l string) bool { return l == "data" || l == "data/" || l == "/data" || l == "/data/" }),
		".dockerignore does not exclude data/")
}
