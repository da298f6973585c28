# Cocoon Provider. `make run` and `make test` install what they need first.
GO       ?= go
VERSION  ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
LDFLAGS  := -s -w -X main.version=$(VERSION)
BIN      := bin/cocoon-provider
# go-nvml's cgo wrappers name NVML calls the header marks deprecated.
export CGO_CFLAGS ?= -O2 -g -Wno-deprecated-declarations
# Arguments for `make run`, e.g. make run ARGS="doctor".
ARGS     ?=

.PHONY: all deps build build-nogui run dev image doctor test test-unit test-wallet test-ui test-vm vet lint bench measure clean

all: build

deps:
	@packaging/scripts/deps.sh

build: deps
	$(GO) build -trimpath -ldflags '$(LDFLAGS)' -o $(BIN) .

build-nogui:
	$(GO) build -trimpath -tags nogui -ldflags '$(LDFLAGS)' -o $(BIN)-nogui .

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
	$(GO) test -p 1 -count=1 -tags integration -run 'TestDevMode|TestStandIn|TestCLIDev' -v ./engine/ ./engine/devmode/ .

lint: vet

# Benchmarks and footprint figures; numbers, never pass/fail.
bench: build
	$(GO) test -run '^$$' -bench . -benchmem ./...
	packaging/scripts/measure.sh

measure: build
	packaging/scripts/measure.sh

clean:
	rm -rf bin
