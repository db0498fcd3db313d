# smtpsd - build, test, run.  See README.md.
#
#   make            build build/smtpsd and build/smtpsctl (normal build)
#   make run        install packages (root), build, start on var/ (ARGS='...')
#   make check      install packages (root), build, run every test normally
#                   and again under ASan+UBSan; closing line "N passed, N failed"
#   make bench      benchmark against Postfix (docs/PERFORMANCE.md)
#   make fuzz       build the libFuzzer targets (clang)

CC      ?= cc
BUILD   ?= build
PKGS    := openssl libevent libevent_pthreads libunbound libpsl sqlite3 libxcrypt libcurl libidn2
PKG_CFLAGS := $(shell pkg-config --cflags $(PKGS) 2>/dev/null)
PKG_LIBS   := $(shell pkg-config --libs $(PKGS) 2>/dev/null)
WARN    := -Wall -Wextra -Werror -Wno-unused-parameter -Wformat=2 \
           $(if $(findstring clang,$(CC)),-Wshadow,-Wshadow=local)
OPT     ?= -O2 -g
SAN     ?=
CFLAGS_ALL := -std=gnu11 $(OPT) $(SAN) $(WARN) -D_GNU_SOURCE -Isrc $(PKG_CFLAGS) $(EXTRA_CFLAGS)
LDFLAGS_ALL := $(SAN) -pthread $(LDFLAGS)

# Every src/<module>/*.c except the programs' mains goes into one library.
MAINS   := src/daemon/main.c src/cli/smtpsctl.c
LIB_SRC := $(filter-out $(MAINS), $(wildcard src/util/*.c src/config/*.c src/smtp/*.c src/msg/*.c src/mailauth/*.c src/dns/*.c src/tls/*.c src/queue/*.c src/deliver/*.c src/sasl/*.c src/check/*.c))
DAEMON_SRC := $(filter-out $(MAINS), $(wildcard src/daemon/*.c))
CLI_SRC := $(filter-out $(MAINS), $(wildcard src/cli/*.c))
LIB_OBJ := $(LIB_SRC:%.c=$(BUILD)/obj/%.o)
DAEMON_OBJ := $(DAEMON_SRC:%.c=$(BUILD)/obj/%.o)
CLI_OBJ := $(CLI_SRC:%.c=$(BUILD)/obj/%.o)
UNIT_SRC := $(wildcard tests/unit/test_*.c)
UNIT_BIN := $(UNIT_SRC:tests/unit/%.c=$(BUILD)/tests/%)
TOOL_SRC := $(wildcard tests/tools/*.c)
TOOL_BIN := $(TOOL_SRC:tests/tools/%.c=$(BUILD)/tests/%)
BENCH_BIN := $(BUILD)/smtpsd-load

.PHONY: all run check test bench fuzz clean deps tests
all: $(BUILD)/smtpsd $(BUILD)/smtpsctl
tests: all $(UNIT_BIN) $(TOOL_BIN) $(if $(wildcard bench/load.c),$(BENCH_BIN))

$(BUILD)/obj/%.o: %.c
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS_ALL) -MMD -MP -c $< -o $@

$(BUILD)/libsmtpsd.a: $(LIB_OBJ)
	@mkdir -p $(dir $@)
	rm -f $@ && ar rcs $@ $^

$(BUILD)/smtpsd: $(BUILD)/obj/src/daemon/main.o $(DAEMON_OBJ) $(BUILD)/libsmtpsd.a
	$(CC) $(LDFLAGS_ALL) -o $@ $^ $(PKG_LIBS)

$(BUILD)/smtpsctl: $(BUILD)/obj/src/cli/smtpsctl.o $(CLI_OBJ) $(BUILD)/libsmtpsd.a
	$(CC) $(LDFLAGS_ALL) -o $@ $^ $(PKG_LIBS)

$(BUILD)/tests/%: tests/unit/%.c $(BUILD)/libsmtpsd.a $(DAEMON_OBJ)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS_ALL) -Itests/unit -o $@ $< $(DAEMON_OBJ) $(BUILD)/libsmtpsd.a $(LDFLAGS_ALL) $(PKG_LIBS)

$(BUILD)/tests/%: tests/tools/%.c $(BUILD)/libsmtpsd.a
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS_ALL) -Itests/unit -o $@ $< $(BUILD)/libsmtpsd.a $(LDFLAGS_ALL) $(PKG_LIBS)

$(BENCH_BIN): bench/load.c
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS_ALL) $(shell pkg-config --cflags gnutls) -o $@ $< $(LDFLAGS_ALL) $(PKG_LIBS) $(shell pkg-config --libs gnutls)

-include $(shell find $(BUILD)/obj -name '*.d' 2>/dev/null)

deps:
	@sh scripts/deps.sh

run: deps
	@$(MAKE) --no-print-directory all
	@sh scripts/run.sh $(ARGS)

# make check: the normal build and the sanitizer build, every test in each.
check: deps
	@/usr/bin/python3 tests/run.py

test: tests
	@/usr/bin/python3 tests/run.py --only normal

bench: deps
	@$(MAKE) --no-print-directory all $(BENCH_BIN)
	@sh bench/run.sh
	@if [ -f bench/mailauth.sh ]; then sh bench/mailauth.sh; fi
	@if [ -f bench/inbound.sh ]; then sh bench/inbound.sh; fi

FUZZ_SRC := $(wildcard tests/fuzz/fuzz_*.c)
fuzz:
	@$(MAKE) --no-print-directory BUILD=build-fuzz CC=clang OPT="-O1 -g" SAN="-fsanitize=fuzzer-no-link,address,undefined" $(FUZZ_SRC:tests/fuzz/%.c=build-fuzz/fuzz/%)

build-fuzz/fuzz/%: tests/fuzz/%.c $(BUILD)/libsmtpsd.a
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS_ALL) -fsanitize=fuzzer -o $@ $< $(BUILD)/libsmtpsd.a $(LDFLAGS_ALL) $(PKG_LIBS)

clean:
	rm -rf build build-asan build-fuzz
