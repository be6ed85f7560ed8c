# Build-time embedding of web/ (the frontend's page) and inspector/ (the
# admin listener's page) into the binary. Included from the Makefile after
# BUILD, CC, CPPFLAGS and CFLAGS are set (target names below expand BUILD
# when this file is read).
#
# tools/embed is a host tool, built with plain flags (no sanitizers) so the
# generator behaves the same in every build mode. Each generated file
# depends on every file of its folder and on the folder itself, so adding
# or removing a file also regenerates it.

EMBED_BIN       := $(BUILD)/tools/embed
ASSETS_C        := $(BUILD)/gen/assets.c
ASSETS_OBJ      := $(BUILD)/gen/assets.o
EMBED_FILES     := $(wildcard web/*)
INSPECTOR_C     := $(BUILD)/gen/inspector_assets.c
INSPECTOR_OBJ   := $(BUILD)/gen/inspector_assets.o
INSPECTOR_FILES := $(wildcard inspector/*)

$(EMBED_BIN): tools/embed.c
	@mkdir -p $(dir $@)
	@echo "  CC      $<"
	@$(CC) -std=c11 -O2 -Wall -Wextra -Wshadow -Wstrict-prototypes -Werror -o $@ $<

$(ASSETS_C): $(EMBED_FILES) web tools/embed.c $(EMBED_BIN)
	@mkdir -p $(dir $@)
	@echo "  EMBED   $@"
	@$(EMBED_BIN) $@ duro_assets $(EMBED_FILES)

$(INSPECTOR_C): $(INSPECTOR_FILES) inspector tools/embed.c $(EMBED_BIN)
	@mkdir -p $(dir $@)
	@echo "  EMBED   $@"
	@$(EMBED_BIN) $@ duro_inspector_assets $(INSPECTOR_FILES)

$(BUILD)/gen/%.o: $(BUILD)/gen/%.c src/http/asset.h
	@echo "  CC      $<"
	@$(CC) $(CPPFLAGS) $(CFLAGS) -c $< -o $@

# The archive's recipe uses $^, so these extra prerequisites are linked in.
$(BUILD)/libduro.a: $(ASSETS_OBJ) $(INSPECTOR_OBJ)
