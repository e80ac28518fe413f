# SPDX-License-Identifier: GPL-2.0-only
#
# make          build/sluiced, build/sluice and the BPF objects
# make test     install what is missing, build, run every test; ends with "N passed, N failed"
# make demo     namespaces + veths + sluiced on policies/, real traffic, then clean up
# make bench    per-packet cost beside baselines measured in the same run
# make deps     apt-get install the Debian packages that are missing (silent when none)
#
# V=1 shows the commands.

BUILD   ?= build
CC      ?= gcc
CLANG   ?= clang
BPFTOOL ?= bpftool
PYTHON  ?= /usr/bin/python3

ifeq ($(V),1)
Q =
msg =
else
Q = @
msg = @printf '  %-8s %s\n' "$(1)" "$(2)";
endif

CFLAGS_COMMON := -std=gnu11 -g -Wall -Wextra -Werror -Wno-missing-field-initializers \
		 -D_GNU_SOURCE -I. -Ilib -I$(BUILD)
CFLAGS   ?= -O2
SANFLAGS := -O1 -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined
LDLIBS   := -lbpf -lelf -lz -lyaml -lmnl -ljson-c

BPF_CFLAGS := -target bpf -O2 -g -Wall -Werror -D__TARGET_ARCH_x86 -I$(BUILD) -Ibpf

BPF_SRCS   := $(wildcard bpf/*.bpf.c)
BPF_HDRS   := $(wildcard bpf/*.h bpf/lib/*.h)
BPF_OBJS   := $(patsubst bpf/%.bpf.c,$(BUILD)/%.bpf.o,$(BPF_SRCS))
SKELS      := $(patsubst bpf/%.bpf.c,$(BUILD)/%.skel.h,$(BPF_SRCS))
LIB_SRCS   := $(wildcard lib/*.c)
HDRS       := $(wildcard lib/*.h agent/*.h cli/*.h tests/*.h bpf/sluice_abi.h)
AGENT_SRCS := $(wildcard agent/*.c)
CLI_SRCS   := $(wildcard cli/*.c)
TEST_SRCS  := $(wildcard tests/test_*.c)
BENCH_SRCS := $(wildcard bench/*.c)

obj  = $(patsubst %.c,$(BUILD)/obj/%.o,$(1))
sobj = $(patsubst %.c,$(BUILD)/san/%.o,$(1))

TEST_BINS  := $(patsubst tests/%.c,$(BUILD)/tests/%,$(TEST_SRCS))
BENCH_BINS := $(patsubst bench/%.c,$(BUILD)/bench/%,$(BENCH_SRCS))

DEB_PKGS := clang llvm libbpf-dev libxdp-dev bpftool libmnl-dev libelf-dev zlib1g-dev \
	    libyaml-dev libjson-c-dev pkg-config python3-scapy python3-pytest iproute2 \
	    ethtool util-linux procps nftables

.PHONY: all deps test demo bench clean test-bins bench-bins
.DELETE_ON_ERROR:

all: $(BUILD)/sluiced $(BUILD)/sluice $(BPF_OBJS)

deps:
	@missing=$$(for p in $(DEB_PKGS); do \
		dpkg-query -W -f='$${Status}\n' $$p 2>/dev/null | grep -q 'install ok installed' || echo $$p; \
	done); \
	if [ -n "$$missing" ]; then \
		echo "deps: installing" $$missing; \
		export DEBIAN_FRONTEND=noninteractive; \
		apt-get update -qq >/dev/null && apt-get install -y -qq $$missing >/dev/null || \
			{ echo "deps: apt-get install failed for:" $$missing >&2; exit 1; }; \
	fi

$(BUILD)/vmlinux.h:
	$(call msg,GEN,$@)
	$(Q)mkdir -p $(BUILD)
	$(Q)$(BPFTOOL) btf dump file /sys/kernel/btf/vmlinux format c > $@.tmp && mv $@.tmp $@

$(BUILD)/%.bpf.o: bpf/%.bpf.c $(BPF_HDRS) $(BUILD)/vmlinux.h
	$(call msg,BPF,$@)
	$(Q)$(CLANG) $(BPF_CFLAGS) -c $< -o $@

$(BUILD)/%.skel.h: $(BUILD)/%.bpf.o
	$(call msg,SKEL,$@)
	$(Q)$(BPFTOOL) gen skeleton $< name $* > $@.tmp && mv $@.tmp $@

$(BUILD)/obj/%.o: %.c $(HDRS)
	$(call msg,CC,$@)
	$(Q)mkdir -p $(dir $@)
	$(Q)$(CC) $(CFLAGS_COMMON) $(CFLAGS) -c $< -o $@

$(BUILD)/san/%.o: %.c $(HDRS)
	$(call msg,CC-SAN,$@)
	$(Q)mkdir -p $(dir $@)
	$(Q)$(CC) $(CFLAGS_COMMON) $(SANFLAGS) -c $< -o $@

# Only code that includes a skeleton waits for the BPF build.
$(call obj,$(AGENT_SRCS) $(BENCH_SRCS)) $(call sobj,$(AGENT_SRCS) $(TEST_SRCS)): $(SKELS)

$(BUILD)/sluiced: $(call obj,$(AGENT_SRCS) $(LIB_SRCS))
	$(call msg,LD,$@)
	$(Q)mkdir -p $(dir $@)
	$(Q)$(CC) $(CFLAGS) -o $@ $^ $(LDLIBS)

$(BUILD)/sluice: $(call obj,$(CLI_SRCS) $(LIB_SRCS))
	$(call msg,LD,$@)
	$(Q)mkdir -p $(dir $@)
	$(Q)$(CC) $(CFLAGS) -o $@ $^ $(LDLIBS)

# Sanitizer builds of the agent and CLI, used by the netns tests.
$(BUILD)/san/sluiced: $(call sobj,$(AGENT_SRCS) $(LIB_SRCS))
	$(call msg,LD-SAN,$@)
	$(Q)mkdir -p $(dir $@)
	$(Q)$(CC) $(SANFLAGS) -o $@ $^ $(LDLIBS)

$(BUILD)/san/sluice: $(call sobj,$(CLI_SRCS) $(LIB_SRCS))
	$(call msg,LD-SAN,$@)
	$(Q)mkdir -p $(dir $@)
	$(Q)$(CC) $(SANFLAGS) -o $@ $^ $(LDLIBS)

$(BUILD)/tests/%: $(BUILD)/san/tests/%.o $(call sobj,$(LIB_SRCS))
	$(call msg,LD-SAN,$@)
	$(Q)mkdir -p $(dir $@)
	$(Q)$(CC) $(SANFLAGS) -o $@ $^ $(LDLIBS)

$(BUILD)/bench/%: $(BUILD)/obj/bench/%.o $(call obj,$(LIB_SRCS))
	$(call msg,LD,$@)
	$(Q)mkdir -p $(dir $@)
	$(Q)$(CC) $(CFLAGS) -o $@ $^ $(LDLIBS)

# bench_synflood: the live-frames SYN flood of netns-tests/test_syncookie.py
test-bins: all $(TEST_BINS) $(BUILD)/san/sluiced $(BUILD)/san/sluice $(BUILD)/bench/bench_synflood

bench-bins: all $(BENCH_BINS)

test: deps
	$(Q)$(MAKE) --no-print-directory test-bins
	$(Q)BUILD=$(BUILD) PYTHON=$(PYTHON) tests/run-all.sh

bench: deps
	$(Q)$(MAKE) --no-print-directory bench-bins
	$(Q)BUILD=$(BUILD) bench/run.sh

demo: deps
	$(Q)$(MAKE) --no-print-directory all
	$(Q)BUILD=$(BUILD) PYTHON=$(PYTHON) ./demo.sh

clean:
	rm -rf $(BUILD)
