# `make test` installs what the tests need on a fresh Debian machine and runs every test.
# The tests start real OpenSSH sshd servers on 127.0.0.1 and create throwaway unix users, so they
# run as root (as CI does) or need sudo-less root rights.

SHELL := /bin/bash
APT_PACKAGES := openssh-server openssh-client sudo busybox postgresql-client chromium chromium-driver systemd docker-compose openssl iproute2 slapd ldap-utils nodejs

.PHONY: test deps check faults schemathesis fuzz fuzz-smoke fuzz-deps bench bench-deps cases

# The whole suite runs twice: on SQLite, then on PostgreSQL (each test in its own database).
# The multi-process scale_out_ tests need PostgreSQL whatever the pass, so they run in the
# PostgreSQL pass only.
PG_TEST_URL ?= postgres://postgres@127.0.0.1:5432
# This make run's name for its PostgreSQL test databases (testum_t_<run>_<uuid>): the clean-up
# after a pass drops these only, so runs sharing the server (make faults beside make test) do not
# drop each other's.
TEST_RUN := $(shell od -An -N4 -tx4 /dev/urandom | tr -dc 0-9a-f)
PG_TEST_ENV := TESTUM_TEST_DATABASE_URL=$(PG_TEST_URL) TESTUM_TEST_RUN=$(TEST_RUN)
DROP_TEST_DATABASES := scripts/drop-test-databases.sh $(PG_TEST_URL) testum_t_$(TEST_RUN)_

test: deps
	cargo test --no-fail-fast -- --skip scale_out_
	scripts/ensure-postgres.sh
	$(PG_TEST_ENV) cargo test --no-fail-fast; \
	  status=$$?; $(DROP_TEST_DATABASES); exit $$status
	$(MAKE) fuzz-smoke

# Fuzzing (README "Fuzzing"): every cargo-fuzz target of fuzz/ for FUZZ_SECONDS each, seeded
# from tests/cases; prints executions and crashes per target and exits non-zero on a crash.
# `make test` ends with the smoke run: FUZZ_SMOKE_SECONDS each, on an unoptimised build, which
# compiles faster than the optimised one `make fuzz` uses (the fuzz build is a second build of
# every dependency, with coverage instrumentation).
FUZZ_TARGETS := public_key authorized_keys apply options known_hosts
FUZZ_SECONDS ?= 600
FUZZ_SMOKE_SECONDS ?= 10
CARGO_FUZZ_VERSION := 0.13.2

fuzz: fuzz-deps
	scripts/fuzz.sh $(FUZZ_SECONDS) $(FUZZ_TARGETS)

fuzz-smoke: fuzz-deps
	FUZZ_BUILD=dev scripts/fuzz.sh $(FUZZ_SMOKE_SECONDS) $(FUZZ_TARGETS)

# cargo-fuzz from crates.io, when missing; fail loudly when that is impossible.
fuzz-deps:
	@cargo fuzz --version >/dev/null 2>&1 || { \
		echo "installing: cargo-fuzz (cargo install)"; \
		cargo install --locked --version $(CARGO_FUZZ_VERSION) cargo-fuzz || { echo "make fuzz: cannot cargo install cargo-fuzz" >&2; exit 1; }; }
	@cargo fuzz --version >/dev/null 2>&1 || { echo "make fuzz: cargo fuzz is missing after install" >&2; exit 1; }
	@command -v python3 >/dev/null || { echo "make fuzz: python3 (seeds the corpora) is missing" >&2; exit 1; }

# Fault injection, counted (tests/it/faults.rs): TESTUM_FAULTS faults (default 1000) injected during
# real deploys and revokes, on PostgreSQL (the worker to SIGKILL is a separate `testum worker`
# process there); `make test` runs 36 on each backend. TESTUM_FAULTS_SEED=N replays a run.
TESTUM_FAULTS ?= 1000
faults: deps
	scripts/ensure-postgres.sh
	TESTUM_FAULTS=$(TESTUM_FAULTS) $(PG_TEST_ENV) \
	  cargo test --test it faults:: -- --nocapture; \
	  status=$$?; $(DROP_TEST_DATABASES); exit $$status

# Install missing test dependencies with apt-get; fail loudly when that is impossible.
deps:
	@missing=""; \
	for p in $(APT_PACKAGES); do dpkg-query -W -f='$${Status}' $$p 2>/dev/null | grep -q "ok installed" || missing="$$missing $$p"; done; \
	if [ -n "$$missing" ]; then \
		echo "installing:$$missing"; \
		if [ "$$(id -u)" -ne 0 ]; then echo "make test: need root to apt-get install$$missing" >&2; exit 1; fi; \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $$missing; \
	fi
	@test -x /usr/sbin/sshd || { echo "make test: /usr/sbin/sshd is missing after install" >&2; exit 1; }
	@# tests/it/ship.rs checks contrib/*.service with systemd-analyze and compose.yaml with docker-compose.
	@command -v systemd-analyze >/dev/null || { echo "make test: systemd-analyze is missing after install" >&2; exit 1; }
	@command -v docker-compose >/dev/null || { echo "make test: docker-compose is missing after install" >&2; exit 1; }
	@# The S3 tests run against moto's S3 server on loopback.
	@command -v moto_server >/dev/null 2>&1 || { \
		echo "installing: moto[server] (pip)"; \
		python3 -m pip install --quiet 'moto[server]' \
		  || python3 -m pip install --quiet --break-system-packages 'moto[server]' \
		  || { echo "make test: cannot pip install 'moto[server]'" >&2; exit 1; }; }
	@command -v moto_server >/dev/null 2>&1 || { echo "make test: moto_server is missing after install" >&2; exit 1; }
	@# tests/it/oidc.rs signs in at a real OpenID provider: oidc-provider from npm (tests/oidc).
	@# Debian's nodejs comes without npm (NodeSource's has it built in).
	@command -v npm >/dev/null || { echo "installing: npm"; apt-get install -y -qq --no-install-recommends npm; }
	@command -v npm >/dev/null || { echo "make test: npm is missing after install" >&2; exit 1; }
	@test -f tests/oidc/node_modules/oidc-provider/package.json || { \
		echo "installing: oidc-provider (npm ci in tests/oidc)"; \
		(cd tests/oidc && npm ci --no-audit --no-fund --loglevel=error) \
		  || { echo "make test: cannot npm ci in tests/oidc" >&2; exit 1; }; }
	@test -f tests/oidc/node_modules/oidc-provider/package.json || { echo "make test: oidc-provider is missing after npm ci" >&2; exit 1; }
	@# tests/it/api_access.rs validates the OpenAPI document with openapi-spec-validator.
	@python3 -c 'import openapi_spec_validator' 2>/dev/null || { \
		echo "installing: openapi-spec-validator (pip)"; \
		python3 -m pip install --quiet openapi-spec-validator \
		  || python3 -m pip install --quiet --break-system-packages openapi-spec-validator \
		  || { echo "make test: cannot pip install openapi-spec-validator" >&2; exit 1; }; }
	@python3 -c 'import openapi_spec_validator' || { echo "make test: openapi-spec-validator is missing after install" >&2; exit 1; }
	@# tests/it/schemathesis.rs runs Schemathesis against the served OpenAPI document.
	@command -v schemathesis >/dev/null 2>&1 || { \
		echo "installing: schemathesis (pip)"; \
		python3 -m pip install --quiet schemathesis \
		  || python3 -m pip install --quiet --break-system-packages schemathesis \
		  || { echo "make test: cannot pip install schemathesis" >&2; exit 1; }; }
	@command -v schemathesis >/dev/null 2>&1 || { echo "make test: schemathesis is missing after install" >&2; exit 1; }

# A long Schemathesis run (tests/it/schemathesis.rs; `make test` runs a short one): up to
# SCHEMATHESIS_EXAMPLES cases per operation and phase, for SCHEMATHESIS_SECONDS, on SQLite
# and then on PostgreSQL.
SCHEMATHESIS_EXAMPLES ?= 100
SCHEMATHESIS_SECONDS ?= 900
schemathesis: deps
	TESTUM_SCHEMATHESIS_EXAMPLES=$(SCHEMATHESIS_EXAMPLES) TESTUM_SCHEMATHESIS_SECONDS=$(SCHEMATHESIS_SECONDS) \
	  cargo test --test it schemathesis:: -- --nocapture
	scripts/ensure-postgres.sh
	$(PG_TEST_ENV) TESTUM_SCHEMATHESIS_EXAMPLES=$(SCHEMATHESIS_EXAMPLES) \
	  TESTUM_SCHEMATHESIS_SECONDS=$(SCHEMATHESIS_SECONDS) cargo test --test it schemathesis:: -- --nocapture; \
	  status=$$?; $(DROP_TEST_DATABASES); exit $$status

# Formatting and lints, as CI checks them.
check:
	cargo fmt --all -- --check
	cargo clippy --all-targets -- -D warnings

# Fleet-scale benchmark against N real sshd on 127.0.0.1 (../shared/tools/fleet.sh): testum's
# release binary vs asyncssh and OpenSSH, on SQLite and PostgreSQL (see benches/fanout.rs and the
# README's "Benchmarks"). Select parts with TESTUM_BENCH_ONLY=true,output,deploy,read.
bench: deps bench-deps
	scripts/ensure-postgres.sh
	cargo bench --bench fanout

# The benchmark's asyncssh peer (benches/asyncssh_peer.py) needs asyncssh from PyPI.
bench-deps:
	@python3 -c 'import asyncssh' 2>/dev/null || { \
		echo "installing: asyncssh (pip)"; \
		python3 -m pip install --quiet asyncssh \
		  || python3 -m pip install --quiet --break-system-packages asyncssh \
		  || { echo "make bench: cannot pip install asyncssh" >&2; exit 1; }; }
	@python3 -c 'import asyncssh' || { echo "make bench: asyncssh is missing after install" >&2; exit 1; }

# Refresh tests/cases, the repository's copy of ../shared/cases (see tests/cases/COPY.md).
cases:
	@test -d ../shared/cases || { echo "make cases: ../shared/cases is not here" >&2; exit 1; }
	rm -rf tests/cases.new && cp -a ../shared/cases tests/cases.new
	cp tests/cases/COPY.md tests/cases.new/ && rm -rf tests/cases && mv tests/cases.new tests/cases
