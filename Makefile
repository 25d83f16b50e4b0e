# sse_auto — build, test, demo.  `make help` lists the targets.

CARGO     ?= cargo
PROVE     ?= prove
# Run the same t/*.t against nginx-tests' own Test::Nginx library: make test NGINX_TESTS=/path
NGINX_TESTS ?=
PROVE_JOBS ?= 1

PATHS = ./scripts/build/paths.sh


.PHONY: openresty
.PHONY: help build paths test test-unit test-nginx test-nginx-build test-matrix lint demo demo-check
.PHONY: test-forks deb-openresty test-deb-openresty asan fuzz-stack fuzz-core deb test-deb test-slow soak bench bench-full clean
.PHONY: module-for test-module-for dist test-dist release test-release test-release-all fetch-sources check-floor test-musl
.PHONY: test-nginx-suite test-install test-upgrade test-panels heap-breakdown

# make test-matrix MATRIX="debian trixie" runs a part of it
# one release of each minor line since 1.18 (the newest of the line, or the one users run)
MATRIX ?= vendored nginx-build nginx-1.18 nginx-1.19.10 nginx-1.20.2 nginx-1.21.6 debian nginx-1.23.4 \
	nginx-1.24 nginx-1.25.5 trixie nginx-1.27.5 nginx-1.29.8 nginx-1.30 nginx-1.31

help:
	@echo "make help                this list"
	@echo "make build               the module (glibc 2.17 floor) and the vendored nginx the tests use"
	@echo "make paths               print nginx=<path> and module=<path>"
	@echo "make test                Debian packages, the Python venv, build, test-unit, test-nginx (what CI ends with)"
	@echo "make test-unit           cargo test and sse-auto-core's differential tests (PROPS_CASES=)"
	@echo "make test-nginx          prove t/ t/selftest/ against the vendored nginx (NGINX_TESTS=<nginx-tests>)"
	@echo "make lint                cargo fmt --check, cargo clippy -D warnings, the docs check"
	@echo "make demo                the side-by-side demo (http://127.0.0.1:8090/)"
	@echo "make demo-check          the demo page in headless Chromium, with a screenshot"
	@echo "make test-matrix         the suite against every supported nginx (MATRIX=..., OPENRESTY_BUNDLE=)"
	@echo "make test-nginx-build    the suite against nginx's own build (--add-dynamic-module)"
	@echo "make test-slow           90 s of upstream silence and 15 s heartbeats, at real timescales"
	@echo "make asan                the suite against an AddressSanitizer build of nginx"
	@echo "make fuzz-stack          differential stream and configuration fuzzer under ASan (FUZZ_SEED=, FUZZ_SECONDS=, NGINX=)"
	@echo "make fuzz-core           cargo-fuzz / libFuzzer on sse-auto-core's parsers (FUZZ_CORE_SECONDS=60)"
	@echo "make soak                2,000 streams with faults and reloads (SOAK_SECONDS=600)"
	@echo "make bench               quick SSE benchmark vs proxy_buffering off, Caddy, HAProxy"
	@echo "make bench-full          the full benchmark (docs/BENCHMARKS.md)"
	@echo "make heap-breakdown      nginx's heap per held HTTPS stream by allocation site (massif)"
	@echo "make openresty           the module for an OpenResty bundle (OPENRESTY_SRC=<unpacked bundle>)"
	@echo "make module-for          the module for an nginx binary (NGINX=<binary> [NGINX_SRC=<source>])"
	@echo "make test-module-for     module-for on Debian's nginx, OpenResty, nginx.org's build"
	@echo "make release             prebuilt modules, SHA256SUMS, manifest, installer (RELEASE_TARGETS=...)"
	@echo "make test-release        the release twice, its tests here and in Debian 11/12/13 roots, x86_64 and arm64"
	@echo "make test-release-all    every vanilla file in an nginx of its version, streaming (RELEASE_TARGETS=...)"
	@echo "make fetch-sources       the release's sources from their origins, checked against the lock"
	@echo "make test-musl           the module in musl-linked nginx and OpenResty (Alpine's libc), streaming"
	@echo "make check-floor         no .so built under target/ needs glibc newer than 2.17"
	@echo "make test-install        sse-auto-install in the system's Debian nginx and in OpenResty (root)"
	@echo "make test-panels         the installer in an OpenResty image laid out as Nginx Proxy Manager's (root)"
	@echo "make test-upgrade        upgrades with the module installed: Debian 11 -> 12, container image, binary (root)"
	@echo "make deb                 libnginx-mod-http-sse-auto for Debian's nginx (DIST=trixie: in a trixie root; ARCH=arm64: cross)"
	@echo "make test-deb            the .deb installed, streaming, purged in the system nginx (root; ARCH=arm64: in an arm64 root)"
	@echo "make deb-openresty       openresty-sse-auto for OpenResty's deb (OPENRESTY=1.27.1.2)"
	@echo "make test-deb-openresty  openresty-sse-auto twice, lintian, installed over a stand-in, purged (root)"
	@echo "make test-forks          Tengine, vanilla nginx 1.24.0, Angie: each refuses the others' modules"
	@echo "make test-nginx-suite    nginx's own tests without and with the module, per test"
	@echo "make dist                sse-auto-<version>.tar.gz with the crates vendored (offline builds)"
	@echo "make test-dist           nginx and the module from that tarball, without network"
	@echo "make clean               cargo clean"

# the module's .so is linked against glibc 2.17 (scripts/build/cargo-module.sh, scripts/build/zig.sh);
# SSE_AUTO_GLIBC=host links it against this host's glibc instead
build:
	./scripts/build/deps.sh build
	$(CARGO) build --release --workspace --exclude ngx_http_sse_auto_module
	@$(PATHS) >/dev/null
	@[ "$${SSE_AUTO_GLIBC:-}" = host ] || { eval "$$($(PATHS))"; ./scripts/build/glibc-floor.sh "$$module"; }

paths:
	@$(PATHS)

test:
	./scripts/build/deps.sh test
	./scripts/build/venv.sh
	$(MAKE) --no-print-directory build
	$(MAKE) --no-print-directory test-unit test-nginx

# 10 million generated cases each for the media-type matcher and the event-boundary tracker,
# against their reference implementations
PROPS_CASES ?= 10000000

test-unit:
	$(CARGO) test --release --workspace
	$(CARGO) run --release -q -p sse-auto-core --example differential -- $(PROPS_CASES)

test-nginx:
	@eval "$$($(PATHS))"; \
	export TEST_NGINX_BINARY="$$nginx"; \
	export TEST_NGINX_GLOBALS="load_module $$module;"; \
	export TEST_NGINX_MODULE="$$module"; \
	$(PROVE) -j$(PROVE_JOBS) $(if $(NGINX_TESTS),-I $(NGINX_TESTS)/lib) -I t/lib \
		t/ $(if $(NGINX_TESTS),,t/selftest/)

test-nginx-build:
	./scripts/build/deps.sh test
	./scripts/build/venv.sh
	./scripts/test/matrix.sh nginx-build

test-matrix:
	./scripts/build/deps.sh test
	./scripts/build/venv.sh
	./scripts/test/matrix.sh $(MATRIX)

# OpenResty: make openresty OPENRESTY_SRC=<unpacked openresty-X.Y.Z.W> [OPENRESTY_FLAGS=...]
# (without OPENRESTY_FLAGS: OpenResty's packaging flags, scripts/build/openresty.flags)
openresty:
	./scripts/build/deps.sh build
	./scripts/build/openresty.sh "$(OPENRESTY_SRC)" $(OPENRESTY_FLAGS)

# real-life timescales: a 90 s silence under the stock 60 s proxy_read_timeout, 15 s
# heartbeats (about 2.5 minutes)
test-slow:
	./scripts/build/deps.sh test
	@eval "$$($(PATHS))"; \
	TEST_NGINX_BINARY="$$nginx" TEST_NGINX_GLOBALS="load_module $$module;" \
	$(PROVE) -I t/lib t/slow/

# soak with faults: 2,000 streams, aborts, upstream resets, slow clients, 5 reloads
SOAK_SECONDS ?= 600
SOAK_STREAMS ?= 2000
soak: build
	@eval "$$($(PATHS))"; python3 scripts/test/soak.py --nginx "$$nginx" --module "$$module" \
		--seconds $(SOAK_SECONDS) --streams $(SOAK_STREAMS) --json target/soak.json

# SSE benchmarks against proxy_buffering off, stock nginx, Caddy and HAProxy (docs/BENCHMARKS.md)
bench: build
	./scripts/bench/bench.sh quick

bench-full: build
	./scripts/bench/bench.sh full

# where the heap of a held HTTPS stream goes, by allocation site, sse_auto vs proxy_buffering off
heap-breakdown: build
	$(CARGO) build --release -p sse-bench
	./scripts/bench/heap-breakdown.sh

asan:
	./scripts/build/deps.sh test
	./scripts/build/venv.sh
	./scripts/test/asan.sh

# generated upstreams (proxy HTTP/1.0 and 1.1, FastCGI, uwsgi, SCGI), locations and clients
# (HTTP/1.1, TLS, HTTP/2), each compared with a reference location; random configurations
# through nginx -t. Seeded: FUZZ_SEED=, FUZZ_CASES=, FUZZ_SECONDS=, FUZZ_ONLY=<case>;
# NGINX=<binary> [MODULE=<.so>]: another nginx than the ASan build (a fork, e.g. Tengine)
MODULE ?=
fuzz-stack:
	./scripts/build/deps.sh test
	NGINX="$(NGINX)" MODULE="$(MODULE)" ./scripts/test/fuzz-stack.sh

# coverage-guided: cargo-fuzz + libFuzzer on the media-type matcher, the boundary tracker and
# the type-list parser, against their reference implementations (fuzz/)
fuzz-core:
	./scripts/test/fuzz-core.sh

# make deb DIST=trixie: for another Debian release's nginx, built inside a root of that release
# (scripts/package/debian-root.sh, cached in target/debian-root/)
DIST ?=
ARCH ?=
deb:
	ARCH="$(ARCH)" DIST="$(DIST)" ./scripts/package/deb.sh

# The module for an nginx binary: reads its nginx -V, builds against its source (NGINX_SRC,
# or Debian's nginx-dev tree for Debian's nginx) with its arguments, proves it loads (nginx -t
# on a temporary configuration); the last line is the path of the .so.
NGINX ?=
NGINX_SRC ?=
module-for:
	@[ -n "$(NGINX)" ] || { echo "usage: make module-for NGINX=/usr/sbin/nginx [NGINX_SRC=<nginx or OpenResty source: .tar.gz or dir>]"; exit 2; }
	./scripts/build/module-for.sh "$(NGINX)" $(if $(NGINX_SRC),"$(NGINX_SRC)")

# Debian's stock nginx (nginx-dev), OpenResty 1.27.1.2 of the matrix (built when missing),
# nginx 1.31.4 with nginx.org's package arguments (built once, cached)
test-module-for:
	./scripts/build/deps.sh test
	$(PROVE) -I t/lib t/module-for/

# Prebuilt modules (scripts/release/release.sh): one folder, target/prebuilt/sse-auto-<version>/;
# the last line is its path
RELEASE_TARGETS ?=
release:
	./scripts/build/deps.sh build
	./scripts/release/release.sh $(RELEASE_TARGETS)

# the release built twice (the second time in other directories: the same bytes), its
# tests (t/release/), and its 1.18.0 and 1.26.3 modules in Debian 11 and 13 roots
# (t/release-root/, as root)
test-release:
	./scripts/build/deps.sh test
	./scripts/test/test-release.sh $(RELEASE_TARGETS)

# every vanilla file of the release (this machine's architecture), each loaded into a
# --with-compat nginx of its version built from nginx's tag and streaming, with the control
# (binaries cached in target/nginx-releases/); RELEASE_TARGETS= a part (CI: a sample)
test-release-all:
	./scripts/build/deps.sh test
	./scripts/test/test-release-all.sh $(RELEASE_TARGETS)

# musl (Alpine): the module as the release builds it (on glibc, linked against glibc 2.17) in a
# musl-linked nginx of each MUSL_VERSIONS release (no TLS; zlib and PCRE built for musl) and in
# OpenResty MUSL_OPENRESTY built for musl with its packaging flags: it needs no library musl
# lacks, nginx -t, a live stream and its control (t/release/minimal.t)
MUSL_VERSIONS ?= 1.30.4 1.28.3
MUSL_OPENRESTY ?= 1.31.1.1
test-musl:
	./scripts/build/deps.sh test
	MUSL_VERSIONS="$(MUSL_VERSIONS)" MUSL_OPENRESTY="$(MUSL_OPENRESTY)" ./scripts/test/test-musl.sh

# the release's sources from their origins, checked against scripts/release/sources.lock
# (SOURCES_DIR=, default target/sources; then make release SSE_SOURCES=target/sources)
SOURCES_DIR ?= target/sources
fetch-sources:
	./scripts/release/fetch-sources.sh $(SOURCES_DIR)

# sse-auto-install in this machine's Debian nginx (root; changes the system and restores
# it): from a release folder with its module (1.22.1) and another version's (1.18.0), and
# with the Debian package installed first when make test-deb has built it; and in the
# OpenResty prefix of a matrix entry when one was built (the newest: openresty-1.31 in CI)
test-install:
	./scripts/build/deps.sh test
	@dpkg-query -W -f='$${Status}' nginx 2>/dev/null | grep -q 'ok installed' \
		|| DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends nginx >/dev/null
	@from=$$(RELEASE_ARCHS=$$(uname -m) RELEASE_OUT=$(CURDIR)/target/prebuilt-install ./scripts/release/release.sh nginx-1.18.0 nginx-1.22.1) \
		&& TEST_SSE_INSTALL_FROM="$$from" \
		TEST_SSE_DEB="$(firstword $(wildcard $(CURDIR)/target/deb/libnginx-mod-http-sse-auto_*_$(shell dpkg --print-architecture 2>/dev/null).deb))" \
		TEST_SSE_OPENRESTY_PREFIX="$(lastword $(sort $(wildcard $(CURDIR)/target/matrix/openresty-*/prefix)))" \
		$(PROVE) -I t/lib t/install/

# upgrades with the module installed (root): Debian 11 -> 12 (apt-get full-upgrade) in a
# copy of the Debian 11 root, a container's image replaced under its configuration volume,
# a binary replaced in place (scripts/test/test-upgrade.sh, t/upgrade/)
test-upgrade:
	./scripts/build/deps.sh test
	./scripts/test/test-upgrade.sh

# sse-auto-install in an OpenResty image laid out as Nginx Proxy Manager's (root;
# t/install/npm.t; OpenResty 1.31.1.1 built with NPM's paths)
test-panels:
	./scripts/build/deps.sh test
	./scripts/test/test-panels.sh

# every module .so built under target/ (make build, the matrix, module-for, release, deb; the
# files make test-musl loads into musl nginx are among them: one file serves both)
check-floor:
	@find target \( -path target/debian-root -o -path target/musl -o -name deps \) -prune -o \
		-name '*sse_auto_module*.so' -print | sort | xargs -r ./scripts/build/glibc-floor.sh

# nginx's own test suite (../shared/sources/nginx-tests-*.tar.gz; skipped without it) run
# twice, without and with load_module, compared per test; NGINX_TESTS_FILES= a part
NGINX_TESTS_FILES ?=
test-nginx-suite:
	./scripts/build/deps.sh test
	./scripts/test/nginx-tests.sh $(NGINX_TESTS_FILES)

# the offline source release: the last line is the path of target/dist/sse-auto-<version>.tar.gz
dist:
	./scripts/release/dist.sh

test-dist:
	./scripts/build/deps.sh test
	./scripts/build/zig.sh >/dev/null
	@tarball=$$(./scripts/release/dist.sh) && TEST_SSE_DIST="$$tarball" $(PROVE) -I t/lib t/dist/

# Installs, removes, reinstalls and purges the package in the system nginx (root, Debian
# bookworm); the system is left as it was. With DIST=trixie: the same in the stock nginx of
# the trixie root the package was built in. With ARCH=arm64: the package cross-built here,
# lintian, then the same test in the stock arm64 nginx of an arm64 bookworm root (qemu).
test-deb:
	./scripts/build/deps.sh test
	@deb=$$(ARCH="$(ARCH)" DIST="$(DIST)" ./scripts/package/deb.sh) || exit 1; \
	case "$$deb" in \
	$(CURDIR)/target/deb-arm64/*) \
		command -v lintian >/dev/null || apt-get install -y -qq --no-install-recommends lintian >/dev/null; \
		lintian --fail-on error,warning "$$deb" && echo "lintian: $$(basename "$$deb"): no error, no warning" || exit 1; \
		DEBIAN_ROOT_ARCH=arm64 DEBIAN_ROOT_PACKAGES="ca-certificates nginx perl curl openssl" \
		./scripts/package/debian-root.sh bookworm env TEST_SSE_DEB="/src$${deb#$(CURDIR)}" sh -c ' \
			sed -i -E -e "/listen +\[::\]:80 default_server/d" \
				-e "s/listen +80 default_server/listen 127.0.0.1:8180 default_server/" \
				/etc/nginx/sites-available/default; \
			cd /src && prove -I t/lib t/deb/' ;; \
	$(CURDIR)/target/deb-*) ./scripts/package/debian-root.sh "$(DIST)" env TEST_SSE_DEB="/src$${deb#$(CURDIR)}" \
		sh -c 'cd /src && prove -I t/lib t/deb/' ;; \
	*) TEST_SSE_DEB="$$deb" $(PROVE) -I t/lib t/deb/ ;; \
	esac

# make deb-openresty OPENRESTY=1.27.1.2: openresty-sse-auto for OpenResty's official deb of that
# version (/usr/local/openresty), built against its source bundle with OpenResty's packaging
# flags; the last line is the path of the .deb (target/deb-openresty/)
OPENRESTY ?= 1.27.1.2
deb-openresty:
	./scripts/package/deb-openresty.sh $(OPENRESTY)

# The package built twice (the second time in other directories: the same bytes), lintian, and
# installed with apt over a stand-in of OpenResty's deb made here (root; both are purged after)
test-deb-openresty:
	./scripts/build/deps.sh test
	./scripts/test/test-deb-openresty.sh $(OPENRESTY)

# Tengine 3.1.0, vanilla nginx 1.24.0 (its core) and Angie 1.12.1 built with the module: each
# module refuses the other cores and loads into its own (t/forks/, t/module-for/tengine.t)
test-forks:
	./scripts/build/deps.sh test
	./scripts/test/test-forks.sh

lint:
	./scripts/build/deps.sh build
	$(CARGO) fmt --all -- --check
	$(CARGO) clippy --workspace --release --all-targets -- -D warnings
	python3 scripts/test/docs-check.py --selftest
	python3 scripts/test/docs-check.py

demo: build
	@eval "$$($(PATHS))"; NGINX="$$nginx" MODULE="$$module" ./examples/demo/run.sh

# the demo page in headless Chromium: a real EventSource, live vs. held; screenshot in
# target/demo-check/
demo-check: build
	./scripts/test/demo-check.sh

clean:
	$(CARGO) clean
