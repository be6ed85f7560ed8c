# duro build. `make` builds build/release/duro; SANITIZE=1 builds the
# ASan+UBSan variant under build/asan. See README.md for the targets.

PKGS      := libuv libcjson sqlite3 libcrypto zlib
CC        ?= cc
VERSION   := $(shell cat VERSION 2>/dev/null || echo 0.0.0)
WARN      := -Wall -Wextra -Wshadow -Wstrict-prototypes -Wformat=2 \
             -Wno-unused-parameter -Werror
CPPFLAGS  += -D_GNU_SOURCE -DDURO_VERSION='"$(VERSION)"' -Isrc -Iinclude \
             $(shell pkg-config --cflags $(PKGS))
CFLAGS    ?= -O2 -g
CFLAGS    += -std=c11 $(WARN) -fPIC
LDLIBS    += $(shell pkg-config --libs $(PKGS)) -lhttp_parser -lpthread -ldl -lm
LDFLAGS   += -rdynamic

ifeq ($(SANITIZE),1)
  BUILD   := build/asan
  CFLAGS  := -O1 -g -fno-omit-frame-pointer -std=c11 $(WARN) -fPIC \
             -fsanitize=address,undefined -fno-sanitize-recover=all
  LDFLAGS += -fsanitize=address,undefined
else
  BUILD   := build/release
endif

LIB_SRC   := $(filter-out src/cmd/%,$(wildcard src/*/*.c))
LIB_OBJ   := $(LIB_SRC:%.c=$(BUILD)/%.o)
CMD_SRC   := $(wildcard src/cmd/*.c)
CMD_OBJ   := $(CMD_SRC:%.c=$(BUILD)/%.o)
UNIT_SRC  := $(wildcard tests/unit/test_*.c)
UNIT_BIN  := $(UNIT_SRC:tests/unit/%.c=$(BUILD)/tests/%)
WEB_FILES := $(wildcard web/*)

.DEFAULT_GOAL := all
include mk/embed.mk
include mk/fuzz.mk

.PHONY: all run test unit integration test-asan bench clean fuzz format \
        deps test-deps fuzz-build valgrind

all: $(BUILD)/duro

$(BUILD)/%.o: %.c
	@mkdir -p $(dir $@)
	@echo "  CC      $<"
	@$(CC) $(CPPFLAGS) $(CFLAGS) -MMD -MP -c $< -o $@

$(BUILD)/libduro.a: $(LIB_OBJ)
	@rm -f $@
	ar rcs $@ $^

$(BUILD)/duro: $(CMD_OBJ) $(BUILD)/libduro.a
	$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS)

$(BUILD)/tests/%: tests/unit/%.c $(BUILD)/libduro.a
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

# The README's test command: everything, then everything again under
# AddressSanitizer + UndefinedBehaviorSanitizer.
test: test-deps
	@$(MAKE) --no-print-directory unit integration
	@$(MAKE) --no-print-directory SANITIZE=1 unit integration

# The integration smoke tests with every duro under valgrind's memcheck:
# any invalid access or definite leak fails them.
valgrind: build/release/duro
	@DURO_VALGRIND=1 DURO_BIN=$(abspath build/release/duro) node --test \
	  --test-concurrency=1 tests/integration/10-routes.test.mjs \
	  tests/integration/20-coordinator.test.mjs \
	  tests/integration/30-countdown.test.mjs

test-asan:
	$(MAKE) SANITIZE=1 unit integration

bench: build/release/duro
	@bench/run.sh
	@[ -d node_modules/ws ] || npm ci --no-audit --no-fund
	@node bench/sync_bench.mjs

clean:
	rm -rf build

-include $(LIB_OBJ:.o=.d) $(CMD_OBJ:.o=.d)
