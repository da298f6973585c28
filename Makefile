# Cocoon Provider. `make run` and `make test` install what they need first.
GO       ?= go
VERSION  ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
# RELEASE_PUB: the release feed's Ed25519 public key (base64), pinned into
# release builds so that `update` can verify the feed (packaging/cmd/feedsign).
RELEASE_PUB ?=
LDFLAGS  := -s -w -X main.version=$(VERSION) $(if $(RELEASE_PUB),-X github.com/cocoon-provider/cocoon-provider/update.releaseKey=$(RELEASE_PUB))
BIN      := bin/cocoon-provider
# go-nvml's cgo wrappers name NVML calls the header marks deprecated.
export CGO_CFLAGS ?= -O2 -g -Wno-deprecated-declarations
# Arguments for `make run`, e.g. make run ARGS="doctor".
ARGS     ?=

.PHONY: all deps build build-nogui cross run dev image doctor test test-unit test-wallet test-ui test-vm vet lint bench measure soak reliability clean fuzz

all: build

deps:
	@packaging/scripts/deps.sh

build: deps
	$(GO) build -trimpath -ldflags '$(LDFLAGS)' -o $(BIN) .

build-nogui:
	$(GO) build -trimpath -tags nogui -ldflags '$(LDFLAGS)' -o $(BIN)-nogui .

# The app for other systems, where it monitors a remote Linux host: the
# Windows desktop app (Fyne through MinGW-w64, installed when missing),
# headless Windows and macOS builds (macOS's Fyne needs Apple's SDK), and a
# static Linux build without NVML.
CROSS    := bin/cross
MINGW_CC ?= x86_64-w64-mingw32-gcc
cross:
	@command -v $(MINGW_CC) >/dev/null 2>&1 || { sudo=""; [ "$$(id -u)" -eq 0 ] || sudo=sudo; \
		$$sudo env DEBIAN_FRONTEND=noninteractive apt-get update -qq && \
		$$sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends gcc-mingw-w64-x86-64; }
	GOOS=windows GOARCH=amd64 CGO_ENABLED=1 CC=$(MINGW_CC) $(GO) build -trimpath -ldflags '$(LDFLAGS)' -o $(CROSS)/cocoon-provider-windows-amd64.exe .
	GOOS=windows GOARCH=amd64 CGO_ENABLED=0 $(GO) build -trimpath -tags nogui -ldflags '$(LDFLAGS)' -o $(CROSS)/cocoon-provider-windows-amd64-nogui.exe .
	GOOS=darwin GOARCH=arm64 CGO_ENABLED=0 $(GO) build -trimpath -tags nogui -ldflags '$(LDFLAGS)' -o $(CROSS)/cocoon-provider-darwin-arm64-nogui .
	GOOS=darwin GOARCH=amd64 CGO_ENABLED=0 $(GO) build -trimpath -tags nogui -ldflags '$(LDFLAGS)' -o $(CROSS)/cocoon-provider-darwin-amd64-nogui .
	GOOS=linux GOARCH=amd64 CGO_ENABLED=0 $(GO) build -trimpath -tags nogui -ldflags '$(LDFLAGS)' -o $(CROSS)/cocoon-provider-linux-amd64-static .

# The app's main job: open the desktop app (dev mode, the default).
run: build
	./$(BIN) $(ARGS)

doctor: build
	./$(BIN) doctor

# Dev mode in the foreground: the stand-in worker under QEMU (Ctrl-C stops it).
dev: build
	./$(BIN) dev

# The stand-in worker image (Debian's kernel + our guest agent), cached by
# input hash; REBUILD=1 replaces a damaged cache.
image: deps
	$(GO) run ./engine/devmode/cmd/mkimage -src . $(if $(REBUILD),-rebuild)

# Everything CI runs: vet, unit tests with the race detector, the nogui
# build, and the UI smoke test that opens the real window under Xvfb.
test: deps vet test-unit test-wallet build-nogui test-ui test-vm

vet:
	$(GO) vet ./...
	$(GO) vet -tags nogui .
	@out=$$(gofmt -l $$(git ls-files '*.go')); if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi

test-unit:
	$(GO) test -race -count=1 ./...

# tonutils-go's wire encoding trips -race's pointer checks; the wallet's
# liteserver tests run with those checks off for that module. The TVM
# emulator tests link tongo's libemulator.so (kept behind the tvmemu tag).
TONGO_LIB = $(shell $(GO) list -m -f '{{.Dir}}' github.com/tonkeeper/tongo)/lib/linux
test-wallet:
	$(GO) test -race -count=1 -gcflags='github.com/xssnick/tonutils-go/...=-d=checkptr=0' ./wallet/
	LD_LIBRARY_PATH=$(TONGO_LIB) $(GO) vet -tags tvmemu ./wallet/...
	LD_LIBRARY_PATH=$(TONGO_LIB) $(GO) test -race -count=1 -tags tvmemu ./wallet/tvmchain/

test-ui: build
	$(GO) test -count=1 -tags integration -run 'TestUI' -v .

# Boots the stand-in image under QEMU (TCG here, KVM where it works).
test-vm: build
	$(GO) test -p 1 -count=1 -tags integration -run 'TestDevMode|TestStandIn|TestCLIDev|TestCLIRun' -v ./engine/ ./engine/devmode/ .

lint: vet

# Benchmarks and footprint figures; numbers, never pass/fail.
bench: build
	$(GO) test -run '^$$' -bench . -benchmem ./...
	packaging/scripts/measure.sh

measure: build
	packaging/scripts/measure.sh

# The desktop app under Xvfb with dev-mode traffic: RSS and CPU of the app
# and QEMU at 1 Hz, window open and tray only, SOAK_DURATION each (make soak
# SOAK_DURATION=1h SOAK_MODES=window for the long soak; SOAK_CSV=DIR keeps
# the samples).
SOAK_DURATION ?= 10m
SOAK_MODES    ?= window tray
soak: build
	SOAK_DURATION='$(SOAK_DURATION)' SOAK_MODES='$(SOAK_MODES)' $(GO) test -tags integration -run '^$$' \
		-bench GUISoak -benchtime=1x -timeout 0 . | grep -v -E '^(goos|goarch|pkg|cpu|PASS|ok|Benchmark)'

# Linux packages in dist/: a .deb (both programs, desktop entry, icons,
# systemd units, service account) and the `fyne package` tarball.
# MAINTAINER="Name <address>" sets the .deb's maintainer.
.PHONY: package test-package
package: deps
	GO='$(GO)' VERSION='$(VERSION)' GO_LDFLAGS='$(LDFLAGS)' packaging/scripts/package.sh

# Installs the .deb into a clean Debian root (debootstrap, cached under
# ~/.cache/cocoon-provider) and checks files, account, programs and removal.
# Needs root (sudo).
test-package: package
	packaging/scripts/test-package.sh

clean:
	rm -rf bin
	rm -rf dist

# Tries to break the app and prints what held: SIGKILLs during ledger
# writes, QEMU kills, damaged images and releases, hostile helper requests,
# a full and a read-only disk, canary secrets and prompts, a fuzz pass.
# Needs QEMU and root or sudo; about 20 minutes on two cores.
reliability: build
	@GO='$(GO)' packaging/scripts/reliability.sh

# Every Go fuzz target in the module for FUZZTIME each (make fuzz
# FUZZTIME=30s for a quick pass); prints what held. Not part of `make test`.
FUZZTIME ?= 10m
fuzz:
	@GO='$(GO)' FUZZTIME='$(FUZZTIME)' packaging/scripts/fuzz.sh
