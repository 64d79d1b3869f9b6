# Pictor. `make run` starts the service; `make test` is what CI runs.
SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c
.DEFAULT_GOAL := build

GO ?= go
# DEPS_FLAGS are passed to scripts/deps.sh by `make test`: --browser installs
# Chromium for the console tests.
DEPS_FLAGS ?= --browser
# MODULES are the nested modules, each with a go.mod of its own, that hold the
# tests whose dependencies the service must not carry: the deployment tests
# (Kubernetes, compose-go, Prometheus Operator types) and the console's browser
# tests (chromedp). `go test ./...` in the root does not reach them.
MODULES := deploy internal/consoletest
# TEST_FLAGS and PKGS narrow a run: make test PKGS=./storage/... TEST_FLAGS=-v.
# A pattern under a nested module runs in that module:
# make test PKGS=./internal/consoletest/ runs only the console tests.
TEST_FLAGS ?=
PKGS ?= ./... $(foreach m,$(MODULES),./$(m)/...)

.PHONY: deps run build vet test bench fuzz

deps:
	@bash scripts/deps.sh

# run needs only libvips to build; the embedded default uses SQLite and a
# local directory, so no PostgreSQL or MinIO is installed for it.
run:
	@bash scripts/deps.sh --runtime
	$(GO) run ./cmd/pictor serve

build:
	$(GO) build -o bin/pictor ./cmd/pictor

vet:
	@for m in . $(MODULES); do echo "$(GO) vet -C $$m ./..."; $(GO) vet -C "$$m" ./...; done

# test installs what is missing, starts a private PostgreSQL and MinIO for this
# run only (own state dir, free ports), runs the tests against them and stops
# them again, whatever the outcome. PKGS are split by module: one go test in the
# root, then one in each nested module a pattern falls under, all against the
# same services; it exits non-zero when any of them fails.
test:
	@bash scripts/deps.sh $(DEPS_FLAGS)
	@bash scripts/validate-deploy.sh
	@state=$$(mktemp -d "$${TMPDIR:-/tmp}/pictor-testenv.XXXXXX"); \
	export PICTOR_TESTENV_STATE="$$state"; \
	trap 'bash scripts/testenv.sh stop >/dev/null 2>&1 || true; rm -rf "$$state"' EXIT; \
	trap 'exit 130' INT TERM; \
	bash scripts/testenv.sh start; \
	set -a; . "$$state/env"; set +a; \
	status=0; \
	for mod in . $(MODULES); do \
		pkgs=(); \
		for p in $(PKGS); do \
			rel=$${p#./}; owner=.; \
			for m in $(MODULES); do \
				case "$$rel" in "$$m" | "$$m"/*) owner=$$m ;; esac; \
			done; \
			if [ "$$owner" != "$$mod" ]; then continue; fi; \
			if [ "$$mod" = . ]; then pkgs+=("$$p"); else rest=$${rel#"$$mod"}; pkgs+=("./$${rest#/}"); fi; \
		done; \
		if [ $${#pkgs[@]} -eq 0 ]; then continue; fi; \
		echo "== go test in $$mod: $${pkgs[*]}"; \
		$(GO) test -C "$$mod" -count=1 -timeout 25m $(TEST_FLAGS) "$${pkgs[@]}" || status=$$?; \
	done; \
	exit $$status

bench:
	@if [ -f benchmarks/run.sh ]; then bash benchmarks/run.sh; \
	else echo "benchmarks/run.sh is not there yet"; fi

# FUZZTIME is how long `make fuzz` runs each fuzz target. Default 30s.
FUZZTIME ?= 30s
# FUZZMINIMIZETIME bounds how long `make fuzz` shrinks each new interesting
# input; Go's 60s default would eat the whole run of targets seeded with
# kilobyte-sized images and workbooks. Default 5s.
FUZZMINIMIZETIME ?= 5s
# FUZZ_TARGETS lists package:target pairs for `make fuzz`; their seed corpora
# (f.Add and testdata/fuzz/) also run as plain tests in `make test`.
FUZZ_TARGETS ?= \
	./pipeline:FuzzParseRecipe \
	./manifest:FuzzReadCSV ./manifest:FuzzReadJSONL ./manifest:FuzzReadXLSX ./manifest:FuzzDetect \
	./imaging:FuzzProbe ./imaging:FuzzTidyJPEG ./imaging:FuzzDecodeMemory ./imaging:FuzzRenderJPEG \
	./auth:FuzzVerify \
	./sdclient:FuzzDecodeGeneration ./sdclient:FuzzDecodeProgress ./sdclient:FuzzParseAPIError

# fuzz runs each fuzz target for FUZZTIME, one after another (go test takes
# one -fuzz target per package per run); a crasher is saved under that
# package's testdata/fuzz/ and fails the run.
fuzz:
	@for t in $(FUZZ_TARGETS); do \
		pkg=$${t%%:*}; name=$${t##*:}; \
		echo "== $$pkg $$name ($(FUZZTIME))"; \
		$(GO) test -run '^$$' -fuzz "^$$name\$$" -fuzztime $(FUZZTIME) -fuzzminimizetime $(FUZZMINIMIZETIME) $$pkg; \
	done
