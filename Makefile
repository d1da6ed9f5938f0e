# Build, run and test the edge token service.
#
#   make run         the host on :8000 with the built-in local authority (tokens are not real)
#   make test        every test: unit, fuzz seeds, host, component on jco, browser, e2e
#   make test-short  the quick edit-test loop (no node, no browser, no subprocess e2e)
#   make component   the WASI HTTP component for Spin and other edge runtimes
#   make bench       the benchmarks (see BENCHMARKS.md)

GO        ?= go
NODE      ?= node
BUILD     := build
GUEST     := $(BUILD)/guest.wasm
HOST      := $(BUILD)/edgetoken-host
COMPONENT := $(BUILD)/edgetoken.component.wasm
GO_FILES  := $(shell find . -name '*.go' -not -path './node_modules/*' -not -path './build/*')

.PHONY: all guest host component run test test-short deps vet bench clean

all: guest host

guest: $(GUEST)
$(GUEST): $(GO_FILES) go.mod go.sum
	@mkdir -p $(BUILD)
	GOOS=wasip1 GOARCH=wasm $(GO) build -buildmode=c-shared -trimpath -ldflags=-s -o $@ ./component

# The host binary carries the guest (build tag embed_guest), so it runs
# with no other file; -wasm still selects another guest.
host: $(HOST)
$(HOST): $(GUEST) $(GO_FILES) go.mod go.sum
	@mkdir -p $(BUILD)
	cp $(GUEST) host/guest.wasm
	$(GO) build -trimpath -tags embed_guest -o $@ ./host

node_modules/.package-lock.json: package.json package-lock.json
	npm ci --no-audit --no-fund
	@touch $@

deps: node_modules/.package-lock.json

component: $(COMPONENT)
$(COMPONENT): $(GUEST) node_modules/.package-lock.json $(wildcard wit/*.wit wit/deps/*/*.wit scripts/component/*.mjs scripts/component/adapter/*)
	$(NODE) scripts/component/componentize.mjs $(GUEST) $@

# The embedded default: no Azure account needed. The resource and app IDs
# are placeholders that the local authority accepts.
run: guest host
	SPEECH_RESOURCE_ID=$${SPEECH_RESOURCE_ID:-/subscriptions/00000000-0000-0000-0000-000000000000/resourceGroups/local/providers/Microsoft.CognitiveServices/accounts/local-speech} \
	API_APP_ID=$${API_APP_ID:-00000000-0000-0000-0000-0000000000a1} \
	exec $(HOST) -local-authority

vet:
	$(GO) vet ./...
	GOOS=wasip1 GOARCH=wasm $(GO) vet ./component/...

test-short: vet
	$(GO) test -short -count=1 ./...

# The end-to-end packages reuse the files built here instead of building
# their own copies (the paths must be absolute: go test runs each package in
# its own directory).
TEST_ARTIFACTS := EDGETOKEN_TEST_GUEST=$(abspath $(GUEST)) \
	EDGETOKEN_TEST_HOST=$(abspath $(HOST)) \
	EDGETOKEN_TEST_COMPONENT=$(abspath $(COMPONENT))

test: vet guest host component
	$(TEST_ARTIFACTS) $(GO) test -count=1 -timeout 25m ./...

bench: guest host component
	$(GO) run ./bench -out BENCHMARKS.md

clean:
	rm -rf $(BUILD)
