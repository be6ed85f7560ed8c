# libFuzzer targets (tests/fuzz/fuzz_*.c) built with clang, ASan and UBSan.
#   make fuzz                 run each target for FUZZ_TIME seconds (30)
#   make fuzz FUZZ_TIME=600   longer
#   make fuzz-build           only build them
# Each target starts from its committed seeds in tests/fuzz/corpus/<name>/
# (fuzz_ws_frame -> corpus/ws_frame) and writes what it learns to
# build/fuzz/corpus/<name>/, never into the repository. A crash stops the
# run; its input is left in build/fuzz/ (crash-*) to turn into a test.

FUZZ_CC      ?= clang
FUZZ_TIME    ?= 30
FUZZ_BUILD   := build/fuzz
FUZZ_CFLAGS  := -std=c11 -g -O1 -fno-omit-frame-pointer \
                -fsanitize=address,undefined -fno-sanitize-recover=all
FUZZ_LIB_OBJ := $(LIB_SRC:%.c=$(FUZZ_BUILD)/%.o) $(FUZZ_BUILD)/gen/assets.o
FUZZ_SRC     := $(wildcard tests/fuzz/fuzz_*.c)
FUZZ_BIN     := $(FUZZ_SRC:tests/fuzz/%.c=$(FUZZ_BUILD)/%)

$(FUZZ_BUILD)/src/%.o: src/%.c
	@mkdir -p $(dir $@)
	@echo "  FUZZCC  $<"
	@$(FUZZ_CC) $(CPPFLAGS) $(FUZZ_CFLAGS) -fsanitize=fuzzer-no-link -c $< -o $@

$(FUZZ_BUILD)/gen/assets.o: $(ASSETS_C)
	@mkdir -p $(dir $@)
	@$(FUZZ_CC) $(CPPFLAGS) $(FUZZ_CFLAGS) -c $< -o $@


$(FUZZ_BUILD)/libduro.a: $(FUZZ_LIB_OBJ)
	@rm -f $@
	@ar rcs $@ $^

$(FUZZ_BUILD)/fuzz_%: tests/fuzz/fuzz_%.c $(FUZZ_BUILD)/libduro.a
	@echo "  FUZZLD  $@"
	@$(FUZZ_CC) $(CPPFLAGS) $(FUZZ_CFLAGS) -fsanitize=fuzzer -o $@ $< \
	  $(FUZZ_BUILD)/libduro.a $(LDLIBS)

fuzz-build: $(FUZZ_BIN)

fuzz: fuzz-build
	@set -e; for bin in $(FUZZ_BIN); do \
	  name=$${bin##*/fuzz_}; \
	  mkdir -p $(FUZZ_BUILD)/corpus/$$name; \
	  seeds=tests/fuzz/corpus/$$name; [ -d $$seeds ] || seeds=; \
	  dict=; [ -f tests/fuzz/$$name.dict ] && dict=-dict=tests/fuzz/$$name.dict; \
	  case $$name in ws_*) [ -f tests/fuzz/ws.dict ] && dict=-dict=tests/fuzz/ws.dict;; esac; \
	  echo "fuzz: $$name for $(FUZZ_TIME) s"; \
	  $$bin -max_total_time=$(FUZZ_TIME) -print_final_stats=1 \
	    -artifact_prefix=$(FUZZ_BUILD)/ $$dict \
	    $(FUZZ_BUILD)/corpus/$$name $$seeds 2>&1 | \
	    grep -E "^(Done|stat::number_of_executed_units|==.*ERROR|SUMMARY)" || true; \
	  ls $(FUZZ_BUILD)/crash-* $(FUZZ_BUILD)/leak-* $(FUZZ_BUILD)/timeout-* 2>/dev/null && exit 1; \
	done; echo "fuzz: all targets ran $(FUZZ_TIME) s each without a finding"
