# Outrider — see README.md. `make run` starts a node, `make test` tests it.
GO        ?= go
PG_URL    ?= postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable
DEV_SECRET ?= outrider-dev-secret-change-me-0123456789
PROTOC_GEN_GO_VERSION := v1.36.12
VERSITYGW_VERSION := v1.8.0

.PHONY: run serve build test tools browser console lint proto proto-check bench fmt

## build: bin/outrider, without debug information (DWARF, symbol table):
## the first build takes about 50 s instead of 65 s on 2 cores; stack
## traces keep their file:line. `go build ./cmd/outrider` for a debuggable one.
## -tags otlp compiles in the OpenTelemetry trace exporter
## (OUTRIDER_OTLP_ENDPOINT); `make run`'s quick build leaves it out. The
## version, commit and build time reach `outrider version` and
## outrider_build_info (make run's build gets the commit from Go's own
## stamping).
VERSION    ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
REVISION   ?= $(shell git rev-parse HEAD 2>/dev/null)
BUILD_TIME ?= $(shell date -u +%Y-%m-%dT%H:%M:%SZ)
BUILD_FLAGS ?= -tags otlp -gcflags=all=-dwarf=false \
	-ldflags='-s -w -X main.version=$(VERSION) -X main.revision=$(REVISION) -X main.buildTime=$(BUILD_TIME)'
build:
	$(GO) build $(BUILD_FLAGS) -o bin/outrider ./cmd/outrider

## run: one node with no outside servers (SQLite, embedded NATS) in ./data.
## Its binary is built for a quick first start rather than top speed: a
## fresh machine compiles about 90 s of CPU (the standard library,
## nats-server, SQLite, Proto.Actor's gRPC) on top of downloading the
## modules. So the build inlines nothing, uses no cgo and leaves the
## compiler's collector off below DEV_GOMEMLIMIT, and the standard library
## compiles while the modules download: /readyz answers within a minute on
## 2 cores (BENCHMARKS.md). `make build` (and `make serve`) build the
## optimised binary.
DEV_BUILD_FLAGS ?= -gcflags='all=-dwarf=false -l' -ldflags='-s -w'
DEV_GOMEMLIMIT  ?= 1GiB
DEV_GO = CGO_ENABLED=0 GOGC=off GOMEMLIMIT=$(DEV_GOMEMLIMIT) $(GO)
## The standard-library packages at the roots of the binary's imports
## (cmd/outrider/makefile_test.go checks the list against `go list -deps`).
STD_ROOTS := archive/tar container/heap crypto/pbkdf2 database/sql embed \
	encoding/base32 encoding/gob encoding/xml expvar flag go/token hash/fnv hash/maphash \
	html/template image/draw image/jpeg image/png io/ioutil log/slog log/syslog \
	net/http/cookiejar net/http/httputil net/http/pprof net/mail net/smtp \
	os/exec os/signal runtime/debug runtime/metrics
run:
	@echo "make run: compiling the standard library while the Go modules download"
	@$(DEV_GO) build $(DEV_BUILD_FLAGS) $(STD_ROOTS) & std=$$!; \
	$(GO) list -deps ./cmd/outrider >/dev/null; fetched=$$?; \
	wait $$std; exit $$fetched
	$(DEV_GO) build $(DEV_BUILD_FLAGS) -o bin/outrider ./cmd/outrider
	./bin/outrider dev

## serve: a production-style node on the local Postgres and NATS
serve: build
	OUTRIDER_PG_URL="$${OUTRIDER_PG_URL:-$(PG_URL)}" \
	OUTRIDER_JWT_SECRET="$${OUTRIDER_JWT_SECRET:-$(DEV_SECRET)}" \
	OUTRIDER_ADMIN_EMAIL="$${OUTRIDER_ADMIN_EMAIL:-admin@outrider.local}" \
	OUTRIDER_ADMIN_PASSWORD="$${OUTRIDER_ADMIN_PASSWORD:-outrider-admin}" \
	./bin/outrider serve

## tools: the servers tests start themselves: versitygw (S3) for persistence/blob/s3,
## into GOBIN or GOPATH/bin, where s3test looks; Go's caches make a rerun cheap
tools: bin/promtool
	$(GO) install github.com/versity/versitygw/cmd/versitygw@$(VERSITYGW_VERSION)

## bin/promtool for deploy/prometheus's tests: Prometheus v3.15.0's (the release
## docker-compose.yml runs), pinned by deploy/prometheus/promtool/go.mod, with only
## the Kubernetes service discovery: about 4 min of 2 cores cold, 5 s cached
bin/promtool: deploy/prometheus/promtool/go.mod deploy/prometheus/promtool/go.sum
	cd deploy/prometheus/promtool && $(GO) build -trimpath -tags remove_all_sd,enable_kubernetes_sd -o $(CURDIR)/bin/promtool github.com/prometheus/prometheus/cmd/promtool

## console: rebuild the console's embedded build (transport/httpapi/console/dist)
## from clients/console; commit the result (make test fails on a stale one)
console:
	cd clients/console && npm ci --no-audit --no-fund && npm run build

## browser: Debian's chromium, which the console's browser tests (e2e/console)
## drive through playwright-core (npm, pinned in clients/console); needs root
## for apt-get the first time
browser:
	@command -v chromium >/dev/null || { echo "make browser: installing Debian's chromium"; \
	  DEBIAN_FRONTEND=noninteractive apt-get install -y -q chromium >/dev/null || \
	  { apt-get update -q >/dev/null && DEBIAN_FRONTEND=noninteractive apt-get install -y -q chromium >/dev/null; }; }

## test: vet, then every test with the race detector against the real Postgres
## (and versitygw, which the S3 tests start); the SDK's and the console's tests
## (e2e/sdk, e2e/console) run npm ci and node from within go test
test: tools browser proto-check
	$(GO) vet ./...
	$(GO) vet -tags kubernetes ./cluster/
	$(GO) vet -tags otlp ./cmd/outrider/...
	$(GO) test -race -count=1 -timeout 20m ./...
	$(GO) test -race -count=1 -tags otlp -run OTLP ./cmd/outrider/app/
	cd deploy/kubernetes && $(GO) test -count=1 ./...

lint:
	@test -z "$$(gofmt -l . | tee /dev/stderr)" || (echo "gofmt needed" && exit 1)
	$(GO) vet ./...

fmt:
	gofmt -w .

## proto: regenerate proto/outriderpb (needs protoc: apt-get install protobuf-compiler)
proto:
	GOBIN=$(CURDIR)/bin $(GO) install google.golang.org/protobuf/cmd/protoc-gen-go@$(PROTOC_GEN_GO_VERSION)
	PATH=$(CURDIR)/bin:$$PATH protoc --go_out=. --go_opt=module=github.com/outrider/outrider proto/outrider.proto

## proto-check: fail when proto/outriderpb is not what `make proto` makes of
## proto/outrider.proto. Regenerates into a temporary directory and diffs.
## The header's `protoc vX` line is not compared: it records which protoc
## ran (the committed code: Debian bookworm's 3.21.12), and another protoc
## that generates the same code is not a stale file. Any other difference,
## protoc-gen-go's pinned version included, fails.
proto-check:
	@command -v protoc >/dev/null || { echo "proto-check: protoc not found (apt-get install protobuf-compiler)" >&2; exit 1; }
	@GOBIN=$(CURDIR)/bin $(GO) install google.golang.org/protobuf/cmd/protoc-gen-go@$(PROTOC_GEN_GO_VERSION)
	@tmp=$$(mktemp -d) && trap 'rm -rf "$$tmp"' EXIT && \
	PATH=$(CURDIR)/bin:$$PATH protoc --go_out="$$tmp" --go_opt=module=github.com/outrider/outrider proto/outrider.proto && \
	if ! diff -ru -I '^//[[:space:]]*protoc[[:space:]]' proto/outriderpb "$$tmp/proto/outriderpb"; then \
		echo "proto-check: proto/outriderpb is stale: run \`make proto\` and commit the result ($$(protoc --version))" >&2; \
		exit 1; \
	fi

## bench: the HTTP-layer benchmarks on the real Postgres (see BENCHMARKS.md)
bench:
	$(GO) test -run '^$$' -bench . -benchtime 5s ./e2e/api/ ./persistence/postgres/
