# rtmp_server — GNU Makefile.
#
#   make                      release build: ./rtmp_server, ./rtmp_bench
#   make BUILD=debug          debug build (debug logging compiled in)
#   make check                install missing packages, build, run every test
#   make SANITIZE=address,undefined check
#   make run                  run ./rtmp_server -c conf/rtmp.conf in the foreground
#   make fuzz                 libFuzzer harnesses, FUZZ_SECONDS each (default 60)
#   make install              PREFIX=/usr/local DESTDIR= (SYSCONFDIR: /etc for PREFIX=/usr)
#   make V=1 ...              show every compiler command

BUILD ?= release
V ?= 0
ifeq ($(V),0)
  Q := @
  say = @echo "  $(1) $(2)"
else
  Q :=
  say = @true
endif
SANITIZE ?=
PREFIX ?= /usr/local
DESTDIR ?=
CXX ?= g++
FUZZ_CXX ?= clang++
FUZZ_SECONDS ?= 60

comma := ,
ifeq ($(SANITIZE),)
  VARIANT := $(BUILD)
else
  VARIANT := san-$(subst $(comma),-,$(SANITIZE))
endif
OUT := build/$(VARIANT)

PKGS := libconfig openssl libcurl
PKG_CFLAGS = $(shell pkg-config --cflags $(PKGS) 2>/dev/null)
PKG_LIBS = $(shell pkg-config --libs $(PKGS) 2>/dev/null)

WARN := -Wall -Wextra -Werror -Wshadow -Wno-missing-field-initializers
CXXFLAGS_BASE := -std=c++20 $(WARN) -fno-exceptions -fno-rtti -Iinclude -MMD -MP \
                 -D_GNU_SOURCE -fno-strict-aliasing
ifeq ($(BUILD),debug)
  OPT := -O0 -g3 -DRTMP_DEBUG
else
  OPT := -O2 -g
endif

ifeq ($(SANITIZE),)
  # jemalloc replaces malloc for the whole process in release and debug builds
  ALLOC_CFLAGS := -DRTMP_JEMALLOC
  ALLOC_LIBS := -Wl,--no-as-needed -ljemalloc -Wl,--as-needed
else
  OPT := -O1 -g -fno-omit-frame-pointer -fsanitize=$(SANITIZE) -fno-sanitize-recover=all
  ALLOC_CFLAGS :=
  ALLOC_LIBS :=
endif

CXXFLAGS ?=
LDFLAGS ?=
ALL_CXXFLAGS = $(CXXFLAGS_BASE) $(OPT) $(ALLOC_CFLAGS) $(PKG_CFLAGS) $(CXXFLAGS)
ALL_LDFLAGS = $(OPT) $(LDFLAGS)
LIBS = $(PKG_LIBS) $(ALLOC_LIBS) -lm

LIB_SRCS := $(sort $(wildcard src/core/*.cpp src/event/*.cpp src/os/*.cpp src/rtmp/*.cpp \
                              src/hls/*.cpp src/http/*.cpp))
LIB_OBJS := $(LIB_SRCS:%.cpp=$(OUT)/%.o)
LIB := $(OUT)/librtmp.a
BIN := $(OUT)/rtmp_server
BENCH_SRCS := $(sort $(wildcard src/bench/*.cpp))
BENCH := $(OUT)/rtmp_bench
UNIT_SRCS := $(sort $(wildcard tests/unit/*.cpp))
UNIT_OBJS := $(UNIT_SRCS:%.cpp=$(OUT)/%.o)
UNIT := $(OUT)/check_unit
SUITES_INC := $(OUT)/tests/unit/suites.inc

.PHONY: all deps check unit e2e fuzz fuzz-replay run install clean format bench

all: $(BIN) $(if $(BENCH_SRCS),$(BENCH))
ifeq ($(VARIANT),release)
	@cp -f $(BIN) ./rtmp_server
	@$(if $(BENCH_SRCS),cp -f $(BENCH) ./rtmp_bench,true)
endif

deps:
	@sh scripts/install-deps.sh

$(OUT)/%.o: %.cpp
	@mkdir -p $(dir $@)
	$(call say,CXX,$<)
	$(Q)$(CXX) $(ALL_CXXFLAGS) -c $< -o $@

$(LIB): $(LIB_OBJS)
	@rm -f $@
	$(call say,AR,$@)
	$(Q)ar rcs $@ $^

$(BIN): $(OUT)/src/main.o $(LIB)
	$(call say,LINK,$@)
	$(Q)$(CXX) $(ALL_LDFLAGS) -o $@ $^ $(LIBS)

$(BENCH): $(BENCH_SRCS:%.cpp=$(OUT)/%.o) $(LIB)
	$(call say,LINK,$@)
	$(Q)$(CXX) $(ALL_LDFLAGS) -o $@ $^ $(LIBS)

# The unit runner adds every `Suite *rtmp_*_suite(void)` defined under tests/unit.
$(SUITES_INC): $(UNIT_SRCS)
	@mkdir -p $(dir $@)
	@grep -ho '^Suite \*[a-z0-9_]*_suite(void)' $(UNIT_SRCS) | sed 's/^Suite \*\(.*\)(void)/RTMP_SUITE(\1)/' > $@.tmp
	@cmp -s $@.tmp $@ || mv $@.tmp $@; rm -f $@.tmp

$(OUT)/tests/unit/check_main.o: $(SUITES_INC)
$(OUT)/tests/unit/%.o: ALL_CXXFLAGS += -I$(OUT)/tests/unit $(shell pkg-config --cflags check)

$(UNIT): $(UNIT_OBJS) $(LIB)
	$(call say,LINK,$@)
	$(Q)$(CXX) $(ALL_LDFLAGS) -o $@ $^ $(shell pkg-config --libs check) $(LIBS)

# The fuzz harnesses are sanitizer builds already: the SANITIZE pass skips them.
check: deps
	@$(MAKE) --no-print-directory all
	@$(MAKE) --no-print-directory unit e2e $(if $(SANITIZE),,fuzz-replay)

unit: $(UNIT)
	CK_DEFAULT_TIMEOUT=60 $(UNIT)

e2e: $(BIN)
	RTMP_SERVER=$(abspath $(BIN)) RTMP_BENCH=$(abspath $(BENCH)) python3 tests/e2e/run.py

# ---- fuzzing: clang's libFuzzer over the protocol parsers ---------------------------
FUZZ_OUT := build/fuzz
FUZZ_FLAGS := -std=c++20 -g -O1 -fno-exceptions -fno-rtti -Iinclude -D_GNU_SOURCE -MMD -MP \
              -fsanitize=fuzzer-no-link,address,undefined $(PKG_CFLAGS)
FUZZ_SRCS := $(sort $(wildcard tests/fuzz/fuzz_*.cpp))
FUZZ_BINS := $(FUZZ_SRCS:tests/fuzz/%.cpp=$(FUZZ_OUT)/%)
FUZZ_LIB_OBJS := $(LIB_SRCS:%.cpp=$(FUZZ_OUT)/%.o)

$(FUZZ_OUT)/%.o: %.cpp
	@mkdir -p $(dir $@)
	$(call say,CXX,$< (fuzz))
	$(Q)$(FUZZ_CXX) $(FUZZ_FLAGS) -c $< -o $@

$(FUZZ_OUT)/fuzz_%: $(FUZZ_OUT)/tests/fuzz/fuzz_%.o $(FUZZ_LIB_OBJS)
	$(call say,LINK,$@)
	$(Q)$(FUZZ_CXX) $(FUZZ_FLAGS) -fsanitize=fuzzer -o $@ $^ $(PKG_LIBS)

# Replays the kept corpus, then explores for FUZZ_SECONDS per harness. New inputs go to
# build/fuzz/new-<name> (the checkout stays clean); crashes to tests/fuzz/artifacts/ —
# fix them, then keep each one in tests/fuzz/corpus/<name>/.
fuzz: $(FUZZ_BINS)
	@set -e; for f in $(FUZZ_BINS); do \
	  n=$${f##*/fuzz_}; mkdir -p $(FUZZ_OUT)/new-$$n tests/fuzz/corpus/$$n tests/fuzz/artifacts; \
	  echo "fuzz $$n: $(FUZZ_SECONDS) s"; \
	  $$f -max_total_time=$(FUZZ_SECONDS) -print_final_stats=1 -artifact_prefix=tests/fuzz/artifacts/ \
	      $(FUZZ_OUT)/new-$$n tests/fuzz/corpus/$$n > $(FUZZ_OUT)/$$n.log 2>&1 \
	      || { tail -n 40 $(FUZZ_OUT)/$$n.log; exit 1; }; \
	  grep -E "stat::number_of_executed_units|Done" $(FUZZ_OUT)/$$n.log | tr '\n' ' '; echo; \
	done

.SECONDARY: $(FUZZ_LIB_OBJS) $(FUZZ_SRCS:%.cpp=$(FUZZ_OUT)/%.o)

fuzz-replay: $(FUZZ_BINS)
	@$(MAKE) --no-print-directory fuzz FUZZ_SECONDS=10

# ---- running and installing -----------------------------------------------------------
run: deps
	@$(MAKE) --no-print-directory all
	@mkdir -p logs
	./rtmp_server -c conf/rtmp.conf

bench: deps
	@$(MAKE) --no-print-directory all
	sh scripts/bench.sh

# The configuration goes under /etc for PREFIX=/usr (a distribution's layout), else PREFIX/etc.
SYSCONFDIR ?= $(if $(filter /usr /usr/,$(PREFIX)),/etc,$(PREFIX)/etc)

install: all
	install -d $(DESTDIR)$(PREFIX)/sbin $(DESTDIR)$(PREFIX)/share/man/man8 \
	    $(DESTDIR)$(PREFIX)/share/man/man5 $(DESTDIR)$(SYSCONFDIR)/rtmp_server \
	    $(DESTDIR)$(PREFIX)/lib/systemd/system
	install -m 755 $(BIN) $(DESTDIR)$(PREFIX)/sbin/rtmp_server
	install -m 644 man/rtmp_server.8 $(DESTDIR)$(PREFIX)/share/man/man8/
	install -m 644 man/rtmp.conf.5 $(DESTDIR)$(PREFIX)/share/man/man5/
	test -e $(DESTDIR)$(SYSCONFDIR)/rtmp_server/rtmp.conf || \
	    install -m 644 conf/rtmp.conf $(DESTDIR)$(SYSCONFDIR)/rtmp_server/rtmp.conf
	sed -e 's|@PREFIX@|$(PREFIX)|g' -e 's|@SYSCONFDIR@|$(SYSCONFDIR)|g' scripts/rtmp_server.service > $(DESTDIR)$(PREFIX)/lib/systemd/system/rtmp_server.service
	chmod 644 $(DESTDIR)$(PREFIX)/lib/systemd/system/rtmp_server.service

format:
	clang-format -i $(LIB_SRCS) src/main.cpp $(wildcard include/*/*.h) $(BENCH_SRCS) \
	    $(wildcard src/bench/*.h) $(UNIT_SRCS) $(wildcard tests/unit/*.h) $(FUZZ_SRCS)

clean:
	rm -rf build rtmp_server rtmp_bench

-include $(shell find build -name '*.d' 2>/dev/null)
