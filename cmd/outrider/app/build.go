package app

import (
	"runtime"
	"runtime/debug"

	"github.com/prometheus/client_golang/prometheus"
)

// Build says which build of the binary runs: `outrider version` prints
// it and /metrics exports it as outrider_build_info.
type Build struct {
	// Version is the release (the -ldflags -X version, else the module
	// version Go stamped from the VCS tag, else "(devel)").
	Version string
	// Revision is the VCS commit, with "-dirty" when the tree had
	// uncommitted changes ("unknown" when neither -X nor the VCS told).
	Revision string
	// Time is when the binary was built (-X), else the commit's time
	// (VCS); "" when neither is known.
	Time string
	// GoVersion is the Go toolchain that built the binary.
	GoVersion string
}

// ReadBuild fills a Build from what the linker was told (-X values,
// empty when not set) and the build information Go embeds in the binary
// (runtime/debug.ReadBuildInfo's vcs.* settings, present when the binary
// was built from a VCS checkout with -buildvcs, the default).
func ReadBuild(version, revision, buildTime string) Build {
	b := Build{Version: version, Revision: revision, Time: buildTime, GoVersion: runtime.Version()}
	info, ok := debug.ReadBuildInfo()
	if ok {
		if b.Version == "" && info.Main.Version != "" {
			b.Version = info.Main.Version
		}
		var vcsRev, vcsTime string
		dirty := false
		for _, s := range info.Settings {
			switch s.Key {
			case "vcs.revision":
				vcsRev = s.Value
			case "vcs.time":
				vcsTime = s.Value
			case "vcs.modified":
				dirty = s.Value == "true"
			}
		}
		if b.Revision == "" && vcsRev != "" {
			b.Revision = vcsRev
			if dirty {
				b.Revision += "-dirty"
			}
		}
		if b.Time == "" {
			b.Time = vcsTime
		}
	}
	if b.Version == "" {
		b.Version = "(devel)"
	}
	if b.Revision == "" {
		b.Revision = "unknown"
	}
	return b
}

// buildInfoGauge is outrider_build_info{version,revision,goversion} 1,
// the usual way to put a build's identity next to its metrics.
func buildInfoGauge(b Build) prometheus.Collector {
	g := prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Name: "outrider_build_info",
		Help: "The running build: always 1, its labels name the version, VCS revision and Go version.",
	}, []string{"version", "revision", "goversion"})
	g.WithLabelValues(b.Version, b.Revision, b.GoVersion).Set(1)
	return g
}
