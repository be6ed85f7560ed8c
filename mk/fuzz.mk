# libFuzzer targets (tests/fuzz/fuzz_*.c) built with clang, ASan and UBSan.
#   make fuzz                 run each target for FUZZ_TIME seconds (30)
#   make fuzz FUZZ_TIME=600   longer
#   make fuzz-build           only build them
#   make fuzz FUZZ_TARGETS="conn tunnel"   only these (names without fuzz_)
#   make fuzz-merge           minimise what the runs learnt into the
#                             committed seeds (libFuzzer -merge=1)
# Each target starts from its committed seeds in tests/fuzz/corpus/<name>/
# (fuzz_ws_frame -> corpus/ws_frame), with the dictionary
# tests/fuzz/<name>.dict when there is one (ws.dict for the ws_* targets),
# and writes what it learns to build/fuzz/corpus/<name>/, never into the
# repository. A crash stops the run; its input is left in build/fuzz/
# (<name>-crash-*, also -leak-, -timeout-, -oom-) to turn into a test; one
# left there by an earlier run stops the run too, until it is removed.
# The targets themselves are compiled with the project's warnings
# ($(WARN), -Werror); the library without them.

FUZZ_CC      ?= clang
FUZZ_TIME    ?= 30
FUZZ_BUILD   := build/fuzz
FUZZ_CFLAGS  := -std=c11 -g -O1 -fno-omit-frame-pointer \
                -fsanitize=address,undefined -fno-sanitize-recover=all
FUZZ_LIB_OBJ := $(LIB_SRC:%.c=$(FUZZ_BUILD)/%.o) $(FUZZ_BUILD)/gen/assets.o \
                $(FUZZ_BUILD)/gen/inspector_assets.o
FUZZ_SRC     := $(wildcard tests/fuzz/fuzz_*.c)
FUZZ_BIN     := $(FUZZ_SRC:tests/fuzz/%.c=$(FUZZ_BUILD)/%)

$(FUZZ_BUILD)/src/%.o: src/%.c
	@mkdir -p $(dir $@)
	@echo "  FUZZCC  $<"
	@$(FUZZ_CC) $(CPPFLAGS) $(FUZZ_CFLAGS) -fsanitize=fuzzer-no-link -MMD -MP \
	  -c $< -o $@

$(FUZZ_BUILD)/gen/assets.o: $(ASSETS_C)
	@mkdir -p $(dir $@)
	@$(FUZZ_CC) $(CPPFLAGS) $(FUZZ_CFLAGS) -c $< -o $@

$(FUZZ_BUILD)/gen/inspector_assets.o: $(INSPECTOR_C)
	@mkdir -p $(dir $@)
	@$(FUZZ_CC) $(CPPFLAGS) $(FUZZ_CFLAGS) -c $< -o $@


$(FUZZ_BUILD)/libduro.a: $(FUZZ_LIB_OBJ)
	@rm -f $@
	@ar rcs $@ $^

$(FUZZ_BUILD)/fuzz_%: tests/fuzz/fuzz_%.c $(FUZZ_BUILD)/libduro.a
	@echo "  FUZZLD  $@"
	@$(FUZZ_CC) $(CPPFLAGS) $(FUZZ_CFLAGS) $(WARN) -fsanitize=fuzzer -MMD -MP \
	  -o $@ $< \
	  $(FUZZ_BUILD)/libduro.a $(LDLIBS)

fuzz-build: $(FUZZ_BIN)

# header dependencies, so that a changed header rebuilds what includes it
-include $(FUZZ_LIB_OBJ:.o=.d) $(FUZZ_BIN:=.d)

FUZZ_TARGETS ?= $(FUZZ_SRC:tests/fuzz/fuzz_%.c=%)
FUZZ_RUN     := $(FUZZ_TARGETS:%=$(FUZZ_BUILD)/fuzz_%)

fuzz: fuzz-build
	@set -e; for bin in $(FUZZ_RUN); do \
	  name=$${bin##*/fuzz_}; \
	  mkdir -p $(FUZZ_BUILD)/corpus/$$name; \
	  seeds=tests/fuzz/corpus/$$name; [ -d $$seeds ] || seeds=; \
	  dict=; [ -f tests/fuzz/$$name.dict ] && dict=-dict=tests/fuzz/$$name.dict; \
	  case $$name in ws_*) [ -f tests/fuzz/ws.dict ] && dict=-dict=tests/fuzz/ws.dict;; esac; \
	  echo "fuzz: $$name for $(FUZZ_TIME) s"; \
	  $$bin -max_total_time=$(FUZZ_TIME) -print_final_stats=1 \
	    -artifact_prefix=$(FUZZ_BUILD)/$$name- $$dict \
	    $(FUZZ_BUILD)/corpus/$$name $$seeds 2>&1 | \
	    grep -E "^(Done|stat::(number_of_executed_units|average_exec_per_sec)|==.*ERROR|SUMMARY)" || true; \
	  found=$$(ls $(FUZZ_BUILD)/$$name-crash-* $(FUZZ_BUILD)/$$name-leak-* \
	    $(FUZZ_BUILD)/$$name-timeout-* $(FUZZ_BUILD)/$$name-oom-* 2>/dev/null || true); \
	  if [ -n "$$found" ]; then echo "fuzz: $$name found:" $$found; exit 1; fi; \
	done; echo "fuzz: all targets ran $(FUZZ_TIME) s each without a finding"

# Adds to the committed seeds the inputs that the runs learnt
# (build/fuzz/corpus) and that reach code the seeds do not (libFuzzer
# -merge=1); the named seeds stay as they are.
fuzz-merge: fuzz-build
	@set -e; for name in $(FUZZ_TARGETS); do \
	  mkdir -p tests/fuzz/corpus/$$name $(FUZZ_BUILD)/corpus/$$name; \
	  $(FUZZ_BUILD)/fuzz_$$name -merge=1 tests/fuzz/corpus/$$name \
	    $(FUZZ_BUILD)/corpus/$$name 2>&1 | \
	    grep -E "^MERGE-OUTER: [0-9]+ new files" || true; \
	  echo "fuzz-merge: $$name: $$(ls tests/fuzz/corpus/$$name | wc -l) seeds"; \
	done
