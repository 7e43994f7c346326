#!/usr/bin/env bash
# ensure-postgres.sh: make sure tests and the demo can reach a PostgreSQL
# server, following the rules of package pgserver:
#   1. DATABASE_URL is set                      -> use it (exit 0);
#   2. a server answers on 127.0.0.1:5432       -> use it (exit 0);
#   3. initdb is installed                      -> Go starts a private cluster (exit 0);
#   4. root with apt-get                        -> install PostgreSQL, then as 3;
#   5. otherwise print what is missing on stderr and exit 1.
set -euo pipefail

say() { echo "postgres: $*" >&2; }

if [[ -n "${DATABASE_URL:-}" ]]; then
	exit 0
fi

# find_pg_bin NAME: print the path of a PostgreSQL program on PATH or in the
# highest version of /usr/lib/postgresql/*/bin or /usr/pgsql-*/bin.
find_pg_bin() {
	if command -v "$1" >/dev/null 2>&1; then
		command -v "$1"
		return 0
	fi
	local candidate
	candidate=$(ls -d /usr/lib/postgresql/*/bin/"$1" /usr/pgsql-*/bin/"$1" 2>/dev/null | sort -V | tail -n 1)
	if [[ -n "$candidate" && -x "$candidate" ]]; then
		echo "$candidate"
		return 0
	fi
	return 1
}

local_server_answers() {
	local pg_isready
	if pg_isready=$(find_pg_bin pg_isready); then
		"$pg_isready" -q -h 127.0.0.1 -p 5432 -t 2
		return
	fi
	# No pg_isready: is anything listening on the port?
	if command -v timeout >/dev/null 2>&1; then
		timeout 2 bash -c 'exec 3<>/dev/tcp/127.0.0.1/5432' 2>/dev/null
	else
		bash -c 'exec 3<>/dev/tcp/127.0.0.1/5432' 2>/dev/null
	fi
}

if local_server_answers; then
	exit 0
fi

# can_start_private: initdb and pg_ctl are installed and, as root, there is a
# postgres OS user to run them as (initdb refuses to run as root).
can_start_private() {
	find_pg_bin initdb >/dev/null && find_pg_bin pg_ctl >/dev/null || return 1
	if [[ $(id -u) -eq 0 ]] && ! id postgres >/dev/null 2>&1; then
		echo "postgres: PostgreSQL is installed but there is no \"postgres\" OS user to run a private cluster as (initdb refuses to run as root): create one with 'useradd --system --create-home postgres', or set DATABASE_URL=postgres://user@host:5432/db" >&2
		exit 1
	fi
}

if can_start_private; then
	exit 0
fi

if [[ $(id -u) -eq 0 ]] && command -v apt-get >/dev/null 2>&1; then
	say "installing PostgreSQL with apt-get (needed for tests and the demo)"
	if apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql >/dev/null; then
		if can_start_private; then
			exit 0
		fi
		say "apt-get installed postgresql but initdb and pg_ctl are still missing: set DATABASE_URL=postgres://user@host:5432/db instead"
	else
		say "installing PostgreSQL with apt-get failed (see above): fix that, or set DATABASE_URL=postgres://user@host:5432/db, or start a server on 127.0.0.1:5432"
	fi
	exit 1
fi

echo "postgres: no PostgreSQL found for tests and the demo: set DATABASE_URL=postgres://user@host:5432/db, start a server on 127.0.0.1:5432, or install PostgreSQL (e.g. apt-get install postgresql) so offtake can start a private one" >&2
exit 1
