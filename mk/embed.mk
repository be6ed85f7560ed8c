# Build-time embedding of web/ into the binary. Included from the Makefile
# after BUILD, CC, CPPFLAGS and CFLAGS are set (target names below expand
# BUILD when this file is read).
#
# tools/embed is a host tool, built with plain flags (no sanitizers) so the
# generator behaves the same in every build mode. The generated assets.c
# depends on every file in web/ and on the directory itself, so adding or
# removing a file also regenerates it.

EMBED_BIN   := $(BUILD)/tools/embed
ASSETS_C    := $(BUILD)/gen/assets.c
ASSETS_OBJ  := $(BUILD)/gen/assets.o
EMBED_FILES := $(wildcard web/*)

$(EMBED_BIN): tools/embed.c
	@mkdir -p $(dir $@)
	@echo "  CC      $<"
	@$(CC) -std=c11 -O2 -Wall -Wextra -Wshadow -Wstrict-prototypes -Werror -o $@ $<

$(ASSETS_C): $(EMBED_FILES) web tools/embed.c $(EMBED_BIN)
	@mkdir -p $(dir $@)
	@echo "  EMBED   $@"
	@$(EMBED_BIN) $@ $(EMBED_FILES)

$(ASSETS_OBJ): $(ASSETS_C) src/frontend/assets.h
	@echo "  CC      $<"
	@$(CC) $(CPPFLAGS) $(CFLAGS) -c $< -o $@

# The archive's recipe uses $^, so this extra prerequisite is linked in.
$(BUILD)/libduro.a: $(ASSETS_OBJ)
