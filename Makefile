# SPDX-License-Identifier: GPL-2.0-only
#
# make          build/sluiced, build/sluice and the BPF objects
# make test     install what is missing, build, run every test; ends with "N passed, N failed"
# make demo     namespaces + veths + sluiced on policies/, real traffic, then clean up
# make bench    per-packet cost beside baselines measured in the same run
# make fuzz     each libFuzzer target (fuzz/) for FUZZ_TIME seconds (default 60)
# make deps     apt-get install the Debian packages that are missing (silent when none)
# make install  binaries, unit, man pages, completion, examples (PREFIX, DESTDIR)
# make uninstall  removes what make install put there (the policies in /etc stay)
# make deb      build/deb/sluice_VERSION_amd64.deb, with dpkg-buildpackage
#
# V=1 shows the commands.

BUILD   ?= build
CC      ?= gcc
CLANG   ?= clang
BPF_CLANG ?= $(CLANG)
BPFTOOL ?= bpftool
PYTHON  ?= /usr/bin/python3

ifeq ($(V),1)
Q =
msg =
else
Q = @
msg = @printf '  %-8s %s\n' "$(1)" "$(2)";
endif

# FHS paths of make install; the agent's defaults (/etc/sluice/policies,
# /run/sluice, /sys/fs/bpf/sluice) do not move with PREFIX.
PREFIX     ?= /usr/local
SBINDIR    ?= $(PREFIX)/sbin
SYSCONFDIR ?= /etc
DATADIR    ?= $(PREFIX)/share
MANDIR     ?= $(DATADIR)/man
DOCDIR     ?= $(DATADIR)/doc/sluice
BASHCOMPDIR ?= $(DATADIR)/bash-completion/completions
ifeq ($(PREFIX),/usr)
UNITDIR    ?= $(shell pkg-config --variable=systemdsystemunitdir systemd 2>/dev/null || \
		echo /lib/systemd/system)
else
UNITDIR    ?= $(PREFIX)/lib/systemd/system
endif

CFLAGS_COMMON := -std=gnu11 -g -Wall -Wextra -Werror -Wno-missing-field-initializers \
		 -D_GNU_SOURCE -I. -Ilib -I$(BUILD)
CFLAGS   ?= -O2
SANFLAGS := -O1 -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined
LDLIBS   := -lbpf -lelf -lz -lyaml -lmnl -ljson-c
AGENT_LDLIBS := -lmicrohttpd -lsystemd

BPF_CFLAGS := -target bpf -O2 -g -Wall -Werror -D__TARGET_ARCH_x86 -I$(BUILD) -Ibpf

# The product's BPF programs (bpf/) and the benchmarks' own (bench/bpf/, with
# the product's bpf/lib on their include path).
BPF_SRCS   := $(wildcard bpf/*.bpf.c)
BPF_HDRS   := $(wildcard bpf/*.h bpf/lib/*.h bench/bpf/*.h)
BPF_OBJS   := $(patsubst bpf/%.bpf.c,$(BUILD)/%.bpf.o,$(BPF_SRCS))
SKELS      := $(patsubst bpf/%.bpf.c,$(BUILD)/%.skel.h,$(BPF_SRCS))
BENCH_BPF_SRCS := $(wildcard bench/bpf/*.bpf.c)
BENCH_SKELS    := $(patsubst bench/bpf/%.bpf.c,$(BUILD)/%.skel.h,$(BENCH_BPF_SRCS))
LIB_SRCS   := $(wildcard lib/*.c)
HDRS       := $(wildcard lib/*.h agent/*.h cli/*.h tests/*.h bpf/sluice_abi.h)
AGENT_SRCS := $(wildcard agent/*.c)
CLI_SRCS   := $(wildcard cli/*.c)
TEST_SRCS  := $(wildcard tests/test_*.c)
# The tests' own code, linked into every test: the oracle (ref_*.c, shares nothing with lib/)
# and the golden files' format (golden.c)
TEST_LIB_SRCS := $(filter-out $(TEST_SRCS),$(wildcard tests/*.c))
BENCH_SRCS := $(wildcard bench/*.c)

obj  = $(patsubst %.c,$(BUILD)/obj/%.o,$(1))
sobj = $(patsubst %.c,$(BUILD)/san/%.o,$(1))

TEST_BINS  := $(patsubst tests/%.c,$(BUILD)/tests/%,$(TEST_SRCS))
BENCH_BINS := $(patsubst bench/%.c,$(BUILD)/bench/%,$(BENCH_SRCS))

# The version both binaries print: `git describe` of the checkout (tags v*; without
# a tag, VERSION-gHASH), or the VERSION file alone in a tree without .git (a
# tarball, the .deb's build copy, which gets the describe written into VERSION).
SL_VERSION_FILE := $(shell cat VERSION)
ifneq ($(wildcard .git),)
SL_DESCRIBE := $(shell git describe --tags --match 'v[0-9]*' --dirty 2>/dev/null | sed 's/^v//')
ifeq ($(SL_DESCRIBE),)
SL_DESCRIBE := $(shell h=$$(git describe --always --dirty 2>/dev/null) && \
		 echo "$(SL_VERSION_FILE)-g$$h")
endif
endif
SL_VERSION := $(or $(SL_DESCRIBE),$(SL_VERSION_FILE))

DEB_PKGS := clang llvm libbpf-dev libxdp-dev bpftool libmnl-dev libelf-dev zlib1g-dev \
	    libyaml-dev libjson-c-dev pkg-config python3-scapy python3-pytest python3-pytest-timeout \
	    python3-pytest-xdist \
	    iproute2 ethtool util-linux procps nftables libmicrohttpd-dev libsystemd-dev scdoc \
	    man-db bash-completion python3-yaml systemd debhelper dpkg-dev fakeroot lintian \
	    libfuzzer-14-dev libclang-rt-14-dev iperf3 xdp-tools

.PHONY: all deps test demo bench clean test-bins bench-bins FORCE man completion install \
	uninstall deb fuzz fuzz-bins
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

# Rewritten only when the version changes: a new commit rebuilds lib/version.o alone.
$(BUILD)/build_version.h: FORCE
	$(Q)mkdir -p $(BUILD)
	$(Q)echo '#define SLUICE_BUILD_VERSION "$(SL_VERSION)"' > $@.tmp
	$(Q)if cmp -s $@.tmp $@; then rm $@.tmp; else mv $@.tmp $@; fi

$(call obj,lib/version.c) $(call sobj,lib/version.c): $(BUILD)/build_version.h

$(BUILD)/vmlinux.h:
	$(call msg,GEN,$@)
	$(Q)mkdir -p $(BUILD)
	$(Q)$(BPFTOOL) btf dump file /sys/kernel/btf/vmlinux format c > $@.tmp && mv $@.tmp $@

$(BUILD)/%.bpf.o: bpf/%.bpf.c $(BPF_HDRS) $(BUILD)/vmlinux.h
	$(call msg,BPF,$@)
	$(Q)$(BPF_CLANG) $(BPF_CFLAGS) -c $< -o $@

$(BUILD)/%.bpf.o: bench/bpf/%.bpf.c $(BPF_HDRS) $(BUILD)/vmlinux.h
	$(call msg,BPF,$@)
	$(Q)$(BPF_CLANG) $(BPF_CFLAGS) -c $< -o $@

$(BUILD)/%.skel.h: $(BUILD)/%.bpf.o
	$(call msg,SKEL,$@)
	$(Q)$(BPFTOOL) gen skeleton $< name $* > $@.tmp && mv $@.tmp $@

$(BUILD)/obj/%.o: %.c $(HDRS)
	$(call msg,CC,$@)
	$(Q)mkdir -p $(dir $@)
	$(Q)$(CC) $(CFLAGS_COMMON) $(CPPFLAGS) $(CFLAGS) -c $< -o $@

$(BUILD)/san/%.o: %.c $(HDRS)
	$(call msg,CC-SAN,$@)
	$(Q)mkdir -p $(dir $@)
	$(Q)$(CC) $(CFLAGS_COMMON) $(SANFLAGS) -c $< -o $@

# Only code that includes a skeleton waits for the BPF build.
$(call obj,$(AGENT_SRCS)) $(call sobj,$(AGENT_SRCS) $(TEST_SRCS)): $(SKELS)
$(call obj,$(BENCH_SRCS)): $(SKELS) $(BENCH_SKELS)

$(BUILD)/sluiced: $(call obj,$(AGENT_SRCS) $(LIB_SRCS))
	$(call msg,LD,$@)
	$(Q)mkdir -p $(dir $@)
	$(Q)$(CC) $(CFLAGS) $(LDFLAGS) -o $@ $^ $(LDLIBS) $(AGENT_LDLIBS)

$(BUILD)/sluice: $(call obj,$(CLI_SRCS) $(LIB_SRCS))
	$(call msg,LD,$@)
	$(Q)mkdir -p $(dir $@)
	$(Q)$(CC) $(CFLAGS) $(LDFLAGS) -o $@ $^ $(LDLIBS)

# Sanitizer builds of the agent and CLI, used by the netns tests.
$(BUILD)/san/sluiced: $(call sobj,$(AGENT_SRCS) $(LIB_SRCS))
	$(call msg,LD-SAN,$@)
	$(Q)mkdir -p $(dir $@)
	$(Q)$(CC) $(SANFLAGS) -o $@ $^ $(LDLIBS) $(AGENT_LDLIBS)

$(BUILD)/san/sluice: $(call sobj,$(CLI_SRCS) $(LIB_SRCS))
	$(call msg,LD-SAN,$@)
	$(Q)mkdir -p $(dir $@)
	$(Q)$(CC) $(SANFLAGS) -o $@ $^ $(LDLIBS)

.SECONDARY: $(call sobj,$(TEST_LIB_SRCS))
# test_migrate: the agent's upgrade table and carry-overs, on real maps
$(BUILD)/tests/test_migrate: $(call sobj,agent/migrate.c agent/log.c)
$(BUILD)/tests/test_migrate: LDLIBS += -lsystemd
# test_loop: the agent's event loop, on a real epoll fd
$(BUILD)/tests/test_loop: $(call sobj,agent/loop.c agent/log.c)
$(BUILD)/tests/test_loop: LDLIBS += -lsystemd
# test_netlink: the agent's listing of links, in a netns of its own
$(BUILD)/tests/test_netlink: $(call sobj,agent/netlink.c agent/log.c)
$(BUILD)/tests/test_netlink: LDLIBS += -lsystemd -lmnl
$(BUILD)/tests/%: $(BUILD)/san/tests/%.o $(call sobj,$(TEST_LIB_SRCS) $(LIB_SRCS))
	$(call msg,LD-SAN,$@)
	$(Q)mkdir -p $(dir $@)
	$(Q)$(CC) $(SANFLAGS) -o $@ $^ $(LDLIBS)

$(BUILD)/bench/%: $(BUILD)/obj/bench/%.o $(call obj,$(LIB_SRCS))
	$(call msg,LD,$@)
	$(Q)mkdir -p $(dir $@)
	$(Q)$(CC) $(CFLAGS) -o $@ $^ $(LDLIBS)

# libFuzzer targets (fuzz/fuzz_*.c), built with clang: the code under test with coverage,
# ASan and UBSan; the agent's main() renamed so that libFuzzer's runs.
FUZZ_SRCS  := $(wildcard fuzz/fuzz_*.c)
FUZZ_BINS  := $(patsubst fuzz/%.c,$(BUILD)/fuzz/%,$(FUZZ_SRCS))
FUZZ_FLAGS := -O1 -fsanitize=fuzzer-no-link,address,undefined -fno-sanitize-recover=undefined \
	      -fno-omit-frame-pointer
FUZZ_TIME  ?= 60
fobj = $(patsubst %.c,$(BUILD)/fuzzobj/%.o,$(1))

$(BUILD)/fuzzobj/%.o: %.c $(HDRS)
	$(call msg,CC-FUZZ,$@)
	$(Q)mkdir -p $(dir $@)
	$(Q)$(CLANG) $(CFLAGS_COMMON) $(FUZZ_FLAGS) $(if $(filter agent/main.c,$<),-Dmain=sluiced_main) \
		-c $< -o $@

$(call fobj,$(AGENT_SRCS)): $(SKELS)
$(call fobj,lib/version.c): $(BUILD)/build_version.h

$(BUILD)/fuzz/fuzz_policy: $(call fobj,fuzz/fuzz_policy.c $(LIB_SRCS))
$(BUILD)/fuzz/fuzz_edits: $(call fobj,fuzz/fuzz_edits.c $(LIB_SRCS))
$(BUILD)/fuzz/fuzz_control: $(call fobj,fuzz/fuzz_control.c $(AGENT_SRCS) $(LIB_SRCS))
$(FUZZ_BINS):
	$(call msg,LD-FUZZ,$@)
	$(Q)mkdir -p $(dir $@)
	$(Q)$(CLANG) -fsanitize=fuzzer,address,undefined -o $@ $^ $(LDLIBS) \
		$(if $(filter %/fuzz_control,$@),$(AGENT_LDLIBS))

fuzz-bins: $(FUZZ_BINS)

# The releases an upgrade starts from (netns-tests/test_upgrade.py): their sluiced and
# sluice built from git at each rev of PREV_REVS (git archive, -O1, no sanitizers), kept
# under $(BUILD)/prev-REV until `make clean`. Without a git checkout there is none to
# build and the tests say so (skip). eafd583: the layout before ct4_shards, the v2 slots
# and counters; 374538b: the lookup filter's one stamp per bucket (ct_stamp of 2^15 words);
# 162513b: its buckets of the key's hash (of the pair of addresses since). Each is
# made loadable on kernels that refuse XDP programs bpf_xdp_adjust_meta first
# (netns-tests/lib/prev_compat.sh: its SYN cookies stay off, nothing else changes).
PREV_REVS := eafd583 374538b 162513b
ifneq ($(wildcard .git),)
PREV_BINS := $(foreach r,$(PREV_REVS),$(BUILD)/prev-$(r)/sluiced)
endif

$(BUILD)/prev-%/sluiced:
	$(call msg,PREV,$@ (git $*))
	$(Q)rm -rf $(@D) && mkdir -p $(@D)/src
	$(Q)git archive $* | tar -x -C $(@D)/src
	$(Q)netns-tests/lib/prev_compat.sh $(@D)/src
	$(Q)env -u MAKEFLAGS -u MFLAGS -u MAKELEVEL $(MAKE) -s -C $(@D)/src \
		BUILD=build CFLAGS=-O1 build/sluiced build/sluice > $(@D)/build.log 2>&1 || \
		{ tail -n 20 $(@D)/build.log >&2; exit 1; }
	$(Q)cp $(@D)/src/build/sluice $(@D)/
	$(Q)cp $(@D)/src/build/sluiced $(@D)/sluiced.tmp
	$(Q)rm -rf $(@D)/src
	$(Q)mv $(@D)/sluiced.tmp $@

# The netns tests' own programs (netns-tests/lib/*.c: calls Python cannot make), one file each
NETNS_BINS := $(patsubst netns-tests/lib/%.c,$(BUILD)/netns-tests/%,$(wildcard netns-tests/lib/*.c))

$(BUILD)/netns-tests/%: netns-tests/lib/%.c
	$(call msg,CC,$@)
	$(Q)mkdir -p $(dir $@)
	$(Q)$(CC) $(CFLAGS_COMMON) $(CFLAGS) -o $@ $<

# bench_synflood: the live-frames SYN flood of netns-tests/test_syncookie.py
test-bins: all $(TEST_BINS) $(BUILD)/san/sluiced $(BUILD)/san/sluice man completion $(FUZZ_BINS) \
	   $(BUILD)/bench/bench_synflood $(PREV_BINS) $(NETNS_BINS)

bench-bins: all $(BENCH_BINS)

test: deps
	$(Q)$(MAKE) --no-print-directory test-bins
	$(Q)BUILD=$(BUILD) PYTHON=$(PYTHON) tests/run-all.sh

bench: deps
	$(Q)$(MAKE) --no-print-directory bench-bins
	$(Q)BUILD=$(BUILD) bench/run.sh

fuzz: deps
	$(Q)$(MAKE) --no-print-directory fuzz-bins
	$(Q)BUILD=$(BUILD) FUZZ_TIME=$(FUZZ_TIME) fuzz/run.sh

demo: deps
	$(Q)$(MAKE) --no-print-directory all
	$(Q)BUILD=$(BUILD) PYTHON=$(PYTHON) ./demo.sh

# ---- man pages, completion, install ----

# One source each in docs/ (man/mkman.py); sluice(8) adds the CLI's tables.
MANS := $(BUILD)/man/sluice.8 $(BUILD)/man/sluiced.8 $(BUILD)/man/sluice-policy.5

$(BUILD)/man/grammar.json: $(BUILD)/sluice
	$(Q)mkdir -p $(dir $@)
	$(Q)$(BUILD)/sluice __grammar > $@.tmp && mv $@.tmp $@

$(BUILD)/man/sluice.8.scd: docs/cli.md $(BUILD)/man/grammar.json
$(BUILD)/man/sluiced.8.scd: docs/sluiced.md
$(BUILD)/man/sluice-policy.5.scd: docs/policy.md
$(BUILD)/man/%.scd: man/mkman.py $(BUILD)/build_version.h
	$(call msg,MKMAN,$@)
	$(Q)mkdir -p $(dir $@)
	$(Q)$(PYTHON) man/mkman.py $* $@.tmp "$(SL_VERSION)" \
		$(if $(filter sluice.8,$*),$(BUILD)/man/grammar.json) && mv $@.tmp $@

$(BUILD)/man/%: $(BUILD)/man/%.scd
	$(call msg,SCDOC,$@)
	$(Q)scdoc < $< > $@.tmp && mv $@.tmp $@

man: $(MANS)

# The bash completion, written by the CLI from its command tables.
$(BUILD)/sluice.bash: $(BUILD)/sluice
	$(call msg,GEN,$@)
	$(Q)$(BUILD)/sluice completion bash > $@.tmp && mv $@.tmp $@

completion: $(BUILD)/sluice.bash

EXAMPLES := $(wildcard policies/*.yaml policies/*.txt policies/examples/*.yaml)

install: all man completion
	install -d $(DESTDIR)$(SBINDIR) $(DESTDIR)$(UNITDIR) $(DESTDIR)$(MANDIR)/man8 \
		$(DESTDIR)$(MANDIR)/man5 $(DESTDIR)$(BASHCOMPDIR) \
		$(DESTDIR)$(DOCDIR)/examples/policies $(DESTDIR)$(SYSCONFDIR)/default
	install -d -m 0755 $(DESTDIR)$(SYSCONFDIR)/sluice/policies
	install -m 0755 $(BUILD)/sluiced $(BUILD)/sluice $(DESTDIR)$(SBINDIR)/
	sed -e 's|@SBINDIR@|$(SBINDIR)|g' -e 's|@SYSCONFDIR@|$(SYSCONFDIR)|g' \
		deploy/systemd/sluiced.service.in > $(DESTDIR)$(UNITDIR)/sluiced.service
	chmod 0644 $(DESTDIR)$(UNITDIR)/sluiced.service
	install -m 0644 $(BUILD)/man/sluice.8 $(BUILD)/man/sluiced.8 $(DESTDIR)$(MANDIR)/man8/
	install -m 0644 $(BUILD)/man/sluice-policy.5 $(DESTDIR)$(MANDIR)/man5/
	install -m 0644 $(BUILD)/sluice.bash $(DESTDIR)$(BASHCOMPDIR)/sluice
	install -m 0644 $(filter-out policies/examples/%,$(EXAMPLES)) \
		$(DESTDIR)$(DOCDIR)/examples/policies/
	install -m 0644 $(filter policies/examples/%,$(EXAMPLES)) $(DESTDIR)$(DOCDIR)/examples/
	install -m 0644 README.md docs/*.md $(DESTDIR)$(DOCDIR)/
	@# an operator's policy and options are never overwritten
	[ -e $(DESTDIR)$(SYSCONFDIR)/sluice/policies/10-firewall.yaml ] || \
		install -m 0644 deploy/systemd/10-firewall.yaml $(DESTDIR)$(SYSCONFDIR)/sluice/policies/
	[ -e $(DESTDIR)$(SYSCONFDIR)/default/sluiced ] || \
		install -m 0644 deploy/systemd/sluiced.default $(DESTDIR)$(SYSCONFDIR)/default/sluiced

uninstall:
	rm -f $(DESTDIR)$(SBINDIR)/sluiced $(DESTDIR)$(SBINDIR)/sluice \
		$(DESTDIR)$(UNITDIR)/sluiced.service $(DESTDIR)$(MANDIR)/man8/sluice.8 \
		$(DESTDIR)$(MANDIR)/man8/sluiced.8 $(DESTDIR)$(MANDIR)/man5/sluice-policy.5 \
		$(DESTDIR)$(BASHCOMPDIR)/sluice
	rm -rf $(DESTDIR)$(DOCDIR)
	@echo "uninstall: $(DESTDIR)$(SYSCONFDIR)/sluice and $(DESTDIR)$(SYSCONFDIR)/default/sluiced" \
		"are left in place (your policy)"

# ---- the Debian package ----

# Built in a copy of the source (tracked and new files, no .git, no build/),
# whose VERSION carries this checkout's describe; dpkg-buildpackage writes the
# package beside the copy, in $(BUILD)/deb.
DEB_VERSION := $(shell dpkg-parsechangelog -S Version 2>/dev/null)
DEB_SRC     := $(BUILD)/deb/sluice-$(DEB_VERSION)

deb:
	@[ "$(DEB_VERSION)" = "$(SL_VERSION_FILE)" ] || { echo "deb: debian/changelog is at" \
		"$(DEB_VERSION), VERSION at $(SL_VERSION_FILE)" >&2; exit 1; }
	rm -rf $(BUILD)/deb
	mkdir -p $(DEB_SRC)
	if [ -e .git ]; then git ls-files -z --cached --others --exclude-standard; \
	else find . -path ./$(BUILD) -prune -o -type f -print0; fi | \
		xargs -0 -I{} sh -c '[ ! -e "{}" ] || cp --parents -p "{}" $(DEB_SRC)/'
	echo "$(SL_VERSION)" > $(DEB_SRC)/VERSION
	@# nothing of this make's command line or environment reaches the package's
	@# build (BUILD=/abs/path would make its `make clean` remove ours)
	cd $(DEB_SRC) && env -u MAKEFLAGS -u MFLAGS -u MAKELEVEL -u BUILD -u PREFIX -u DESTDIR \
		-u V DEB_BUILD_OPTIONS="nocheck $(DEB_BUILD_OPTIONS)" \
		dpkg-buildpackage -b -us -uc --no-sign $(if $(V),,>../build.log 2>&1) || \
		{ tail -n 40 $(BUILD)/deb/build.log >&2; exit 1; }
	@ls $(BUILD)/deb/sluice_$(DEB_VERSION)_*.deb

clean:
	rm -rf $(BUILD)
