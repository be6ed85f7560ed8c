# duro build. `make` builds build/release/duro; SANITIZE=1 builds the
# ASan+UBSan variant under build/asan. See README.md for the targets.

PKGS      := libuv libcjson sqlite3 libssl libcrypto zlib liburing libpq
CC        ?= cc
VERSION   := $(shell cat VERSION 2>/dev/null || echo 0.0.0)
WARN      := -Wall -Wextra -Wshadow -Wstrict-prototypes -Wformat=2 \
             -Wno-unused-parameter -Werror
CPPFLAGS  += -D_GNU_SOURCE -DDURO_VERSION='"$(VERSION)"' -Isrc -Iinclude \
             $(shell pkg-config --cflags $(PKGS))
CFLAGS    ?= -O2 -g
CFLAGS    += -std=c11 $(WARN) -fPIC
LDLIBS    += $(shell pkg-config --libs $(PKGS)) -lhttp_parser -lpthread -ldl -lm

ifeq ($(SANITIZE),1)
  BUILD   := build/asan
  CFLAGS  := -O1 -g -fno-omit-frame-pointer -std=c11 $(WARN) -fPIC \
             -fsanitize=address,undefined -fno-sanitize-recover=all
  LDFLAGS += -fsanitize=address,undefined
else
  BUILD   := build/release
endif

# The library is every module but main.c (cmd/schema.c, the program's
# configuration schema, is in it: the unit tests and fuzzers load it).
LIB_SRC   := $(filter-out src/cmd/main.c,$(wildcard src/*/*.c))
LIB_OBJ   := $(LIB_SRC:%.c=$(BUILD)/%.o)
CMD_SRC   := src/cmd/main.c
CMD_OBJ   := $(CMD_SRC:%.c=$(BUILD)/%.o)
# A loaded class library sees exactly the functions of include/duro.h:
# the executable exports those (a generated dynamic list), not every
# internal function as -rdynamic would, so a library's own helper called
# like one of duro's internals stays its own.
DYNLIST   := $(BUILD)/duro.dynlist
LDFLAGS   += -Wl,--dynamic-list=$(DYNLIST)
# tests/unit/<folder>/test_<module>.c mirrors src/<folder>/<module>.c.
UNIT_SRC  := $(wildcard tests/unit/*/test_*.c)
UNIT_BIN  := $(UNIT_SRC:tests/unit/%.c=$(BUILD)/tests/%)
WEB_FILES := $(wildcard web/*)

.DEFAULT_GOAL := all
include mk/embed.mk
include mk/fuzz.mk

.PHONY: all run test unit integration test-asan bench clean fuzz format \
        deps test-deps fuzz-build fuzz-merge valgrind lint

all: $(BUILD)/duro

$(BUILD)/%.o: %.c
	@mkdir -p $(dir $@)
	@echo "  CC      $<"
	@$(CC) $(CPPFLAGS) $(CFLAGS) -MMD -MP -c $< -o $@

$(BUILD)/libduro.a: $(LIB_OBJ)
	@rm -f $@
	ar rcs $@ $^

$(DYNLIST): include/duro.h scripts/gen-dynlist.sh
	@mkdir -p $(dir $@)
	@scripts/gen-dynlist.sh include/duro.h > $@

$(BUILD)/duro: $(CMD_OBJ) $(BUILD)/libduro.a $(DYNLIST)
	$(CC) $(LDFLAGS) -o $@ $(CMD_OBJ) $(BUILD)/libduro.a $(LDLIBS)

$(BUILD)/tests/%: tests/unit/%.c $(BUILD)/libduro.a $(DYNLIST)
	@mkdir -p $(dir $@)
	$(CC) $(CPPFLAGS) $(CFLAGS) $(shell pkg-config --cflags cmocka) $(LDFLAGS) \
	  -o $@ $< $(BUILD)/libduro.a $(LDLIBS) $(shell pkg-config --libs cmocka)

deps:
	@scripts/deps.sh build

test-deps:
	@scripts/deps.sh test
	@[ -d node_modules/ws ] || npm ci --no-audit --no-fund

run: deps
	@$(MAKE) --no-print-directory $(BUILD)/duro
	$(BUILD)/duro dev

unit: $(UNIT_BIN)
	@tests/run-unit.sh $(UNIT_BIN)

integration: $(BUILD)/duro
	@DURO_BIN=$(abspath $(BUILD)/duro) tests/run-integration.sh

# The string rules of docs/security.md (scripts/lint-cstr.sh) and the
# floor plan of docs/architecture.md (scripts/layers.sh) over src/.
lint:
	@scripts/lint-cstr.sh
	@scripts/layers.sh

# The README's test command: the lint, everything, then everything again
# under AddressSanitizer + UndefinedBehaviorSanitizer.
test: test-deps lint
	@$(MAKE) --no-print-directory unit integration
	@$(MAKE) --no-print-directory SANITIZE=1 unit integration

# The integration smoke tests with every duro under valgrind's memcheck:
# any invalid access or definite leak fails them. 25-tunnel covers the
# frontend's WebSocket tunnel (one upgrade, frames both ways).
valgrind: build/release/duro
	@DURO_VALGRIND=1 DURO_BIN=$(abspath build/release/duro) node --test \
	  --test-concurrency=1 tests/integration/10-routes.test.mjs \
	  tests/integration/20-coordinator.test.mjs \
	  tests/integration/25-tunnel.test.mjs \
	  tests/integration/30-countdown.test.mjs

test-asan:
	$(MAKE) SANITIZE=1 unit integration

bench: build/release/duro
	@bench/run.sh
	@bench/compare_bun.sh
	@[ -d node_modules/ws ] || npm ci --no-audit --no-fund
	@node bench/sync_bench.mjs
	@if [ -f bench/reference/node_modules/.package-lock.json ] || \
	    npm ci --prefix bench/reference --no-audit --no-fund; then \
	  node bench/sync_compare.mjs; \
	else echo "sync_compare: reference backend skipped (npm ci --prefix bench/reference failed)"; \
	  CMP_ONLY=duro node bench/sync_compare.mjs; fi

# Commit throughput and latency of the store on SQLite and on a throwaway
# local PostgreSQL (tests/pg.sh), same workloads, then failover time over
# kill -9 of a node of three (bench/cluster.sh, bench/cluster_failover.mjs).
$(BUILD)/bench/store_bench: bench/store_bench.c $(BUILD)/libduro.a $(DYNLIST)
	@mkdir -p $(dir $@)
	$(CC) $(CPPFLAGS) $(CFLAGS) $(LDFLAGS) -o $@ $< $(BUILD)/libduro.a $(LDLIBS)

.PHONY: bench-cluster
bench-cluster: $(BUILD)/bench/store_bench build/release/duro
	@STORE_BENCH=$(abspath $(BUILD)/bench/store_bench) bench/cluster.sh

# Soak (not in CI): 10,000 WebSockets churning for SOAK_SECONDS with
# broadcasts; RSS and descriptors must come back (bench/soak.mjs). Both
# sides need ~11,000 descriptors: raise the limit, the server inherits it.
SOAK_SECONDS ?= 600
.PHONY: soak
soak: $(BUILD)/duro
	@[ -d node_modules/ws ] || npm ci --no-audit --no-fund
	@ulimit -n 65536 2>/dev/null || ulimit -n $$(ulimit -Hn); \
	  SOAK_SECONDS=$(SOAK_SECONDS) DURO_BIN=$(abspath $(BUILD)/duro) \
	  node bench/soak.mjs

# Class libraries for the tests (tests/fixtures/*.c): built as a user's
# class is, against include/duro.h only and not linked with libduro.
FIXTURE_SRC := $(wildcard tests/fixtures/*.c)
FIXTURE_SO  := $(FIXTURE_SRC:tests/fixtures/%.c=$(BUILD)/tests/fixtures/lib%.so)

$(BUILD)/tests/fixtures/lib%.so: tests/fixtures/%.c include/duro.h
	@mkdir -p $(dir $@)
	@echo "  CCSO    $<"
	@$(CC) -Iinclude $(CFLAGS) -shared -fPIC -o $@ $<

$(BUILD)/tests/objects/test_loader: $(FIXTURE_SO)
integration: $(FIXTURE_SO)

# make install [PREFIX=/usr/local] [DESTDIR=]: the binary, the public
# header and duro.pc (from duro.pc.in), so that classes build outside the
# tree with `cc $(pkg-config --cflags duro) -shared -fPIC` (docs/objects.md).
PREFIX       ?= /usr/local
BINDIR       ?= $(PREFIX)/bin
INCLUDEDIR   ?= $(PREFIX)/include
PKGCONFIGDIR ?= $(PREFIX)/share/pkgconfig
ABI_VERSION  := $(shell sed -n 's/^\#define DURO_ABI_VERSION //p' include/duro.h)

.PHONY: install uninstall
ifeq ($(SANITIZE)$(filter install,$(MAKECMDGOALS)),1install)
  $(error make install: not with SANITIZE=1, that would install the ASan build)
endif

install: $(BUILD)/duro
	install -d $(DESTDIR)$(BINDIR) $(DESTDIR)$(INCLUDEDIR) \
	  $(DESTDIR)$(PKGCONFIGDIR)
	install -m 755 $(BUILD)/duro $(DESTDIR)$(BINDIR)/duro
	install -m 644 include/duro.h $(DESTDIR)$(INCLUDEDIR)/duro.h
	sed -e 's|@PREFIX@|$(PREFIX)|' -e 's|@VERSION@|$(VERSION)|' \
	  -e 's|@ABI@|$(ABI_VERSION)|' duro.pc.in > $(DESTDIR)$(PKGCONFIGDIR)/duro.pc
	chmod 644 $(DESTDIR)$(PKGCONFIGDIR)/duro.pc

uninstall:
	rm -f $(DESTDIR)$(BINDIR)/duro $(DESTDIR)$(INCLUDEDIR)/duro.h \
	  $(DESTDIR)$(PKGCONFIGDIR)/duro.pc

clean:
	rm -rf build

-include $(LIB_OBJ:.o=.d) $(CMD_OBJ:.o=.d)
