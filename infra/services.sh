#!/usr/bin/env bash
# Local PostgreSQL + Redis for development, tests and CI on a Debian machine
# without systemd.
#   services.sh check    exit 0 when both answer on 127.0.0.1, else 1
#   services.sh ensure   (default) install/start whatever does not answer
set -euo pipefail

PG_HOST=127.0.0.1
PG_PORT=5432
REDIS_HOST=127.0.0.1
REDIS_PORT=6379
REDIS_LOG=/tmp/accord-redis.log
TEST_DB="test"
WAIT_SECONDS=30

log() { printf 'services: %s\n' "$*"; }
die() { printf 'services: ERROR: %s\n' "$*" >&2; exit 1; }

# apt-get and pg_ctlcluster need root; fall back to sudo for a normal user.
as_root() {
  if [[ $EUID -eq 0 ]]; then "$@"
  elif command -v sudo >/dev/null 2>&1; then sudo "$@"
  else die "need root to run: $*"
  fi
}

# ---------------------------------------------------------------- probes

pg_up() {
  if command -v pg_isready >/dev/null 2>&1; then
    pg_isready -q -h "$PG_HOST" -p "$PG_PORT" -t 3
  else
    # Without client tools a TCP accept is the best signal we have.
    timeout 3 bash -c "exec 3<>/dev/tcp/$PG_HOST/$PG_PORT" 2>/dev/null
  fi
}

redis_up() {
  if command -v redis-cli >/dev/null 2>&1; then
    [[ "$(timeout 3 redis-cli -h "$REDIS_HOST" -p "$REDIS_PORT" ping 2>/dev/null)" == PONG ]]
  else
    # Speak RESP inline by hand: an open port alone could be anything.
    # shellcheck disable=SC2016  # expanded by the inner bash, not here
    timeout 3 bash -c '
      exec 3<>"/dev/tcp/$0/$1" || exit 1
      printf "PING\r\n" >&3
      IFS= read -r reply <&3
      [[ $reply == "+PONG"* ]]' "$REDIS_HOST" "$REDIS_PORT" 2>/dev/null
  fi
}

cmd_check() {
  local rc=0
  if pg_up; then log "PostgreSQL is up on $PG_HOST:$PG_PORT"
  else log "PostgreSQL is NOT answering on $PG_HOST:$PG_PORT"; rc=1; fi
  if redis_up; then log "Redis is up on $REDIS_HOST:$REDIS_PORT"
  else log "Redis is NOT answering on $REDIS_HOST:$REDIS_PORT"; rc=1; fi
  return "$rc"
}

# ---------------------------------------------------------------- install

APT_UPDATED=0
apt_install() {
  command -v apt-get >/dev/null 2>&1 || die "apt-get not found; install $* by hand"
  if [[ $APT_UPDATED -eq 0 ]]; then
    log "apt-get update"
    as_root apt-get update -qq || die "apt-get update failed"
    APT_UPDATED=1
  fi
  log "apt-get install $*"
  as_root env DEBIAN_FRONTEND=noninteractive \
    apt-get install -y -qq --no-install-recommends "$@" || die "apt-get install $* failed"
}

pg_server_installed() {
  command -v pg_ctlcluster >/dev/null 2>&1 && compgen -G '/usr/lib/postgresql/*/bin/postgres' >/dev/null
}

# ---------------------------------------------------------------- PostgreSQL

# Newest installed major version: the one we run when nothing is configured yet.
pg_version() {
  local v=""
  if [[ -d /etc/postgresql ]]; then
    v=$(ls /etc/postgresql 2>/dev/null | sort -V | tail -1 || true)
  fi
  if [[ -z $v ]]; then
    v=$(ls /usr/lib/postgresql 2>/dev/null | sort -V | tail -1 || true)
  fi
  [[ -n $v ]] || die "no PostgreSQL version found under /etc/postgresql or /usr/lib/postgresql"
  printf '%s\n' "$v"
}

# Only the first pg_hba rule that matches a TCP login from 127.0.0.1 counts,
# so a trust line appended at the end would be dead; insert ours before it.
pg_ensure_trust() {
  local hba=$1
  [[ -f $hba ]] || die "missing $hba"
  local first
  first=$(awk '
    /^[[:space:]]*(#|$)/ { next }
    $1 ~ /^host/ {
      addr = $4
      method = (addr ~ /\// || addr ~ /^(all|samehost|samenet)$/) ? $5 : $6
      if (addr ~ /^(127\.0\.0\.1\/32|127\.0\.0\.0\/8|0\.0\.0\.0\/0|all|samehost)$/) {
        print NR, $2, $3, method; exit
      }
    }' "$hba")
  if [[ -n $first ]]; then
    read -r _ db user method <<<"$first"
    if [[ $db == all && $user == all && $method == trust ]]; then
      return 1   # nothing changed
    fi
  fi
  log "pg_hba: trusting local TCP logins from 127.0.0.1 ($hba)"
  local line='host    all    all    127.0.0.1/32    trust    # accord infra/services.sh: local dev'
  if [[ -n $first ]]; then
    local n=${first%% *}
    as_root sed -i "${n}i ${line}" "$hba"
  else
    printf '%s\n' "$line" | as_root tee -a "$hba" >/dev/null
  fi
  return 0
}

# Port and listen address go in a conf.d drop-in, written only when the
# cluster would otherwise not be reachable on 127.0.0.1:5432.
pg_ensure_listen() {
  local v=$1 conf="/etc/postgresql/$1/main/postgresql.conf"
  local port listen want=""
  port=$(pg_conftool -s "$v" main get port 2>/dev/null || true)
  listen=$(pg_conftool -s "$v" main get listen_addresses 2>/dev/null || true)
  listen=${listen//\'/}
  if [[ -n $port && $port != "$PG_PORT" ]]; then
    want+="port = $PG_PORT"$'\n'
  fi
  case ",${listen// /}," in
    ,,|*,localhost,*|*,127.0.0.1,*|*,\*,*|*,0.0.0.0,*) ;;
    *) want+="listen_addresses = '$listen,127.0.0.1'"$'\n' ;;
  esac
  [[ -n $want ]] || return 0
  grep -q "^include_dir = 'conf.d'" "$conf" || die "$conf has no include_dir 'conf.d'; set port/listen_addresses by hand"
  log "postgresql.conf: writing conf.d/accord-local.conf"
  printf '%s' "$want" | as_root tee "/etc/postgresql/$v/main/conf.d/accord-local.conf" >/dev/null
}

pg_start() {
  if ! pg_server_installed; then
    apt_install postgresql
  fi
  local v
  v=$(pg_version)
  if [[ ! -d /etc/postgresql/$v/main ]]; then
    log "creating cluster $v/main"
    as_root pg_createcluster "$v" main --port "$PG_PORT" >/dev/null
  fi
  pg_ensure_listen "$v"
  pg_ensure_trust "/etc/postgresql/$v/main/pg_hba.conf" || true
  # The socket directory lives on tmpfs in many containers and vanishes on restart.
  as_root install -d -o postgres -g postgres -m 2775 /var/run/postgresql
  if pg_lsclusters -h "$v" main 2>/dev/null | awk '{print $4}' | grep -q online; then
    # Running but not answering: a restart picks up the config above.
    log "PostgreSQL $v/main is running but not answering; restarting"
    as_root pg_ctlcluster --skip-systemctl-redirect "$v" main restart \
      || die "pg_ctlcluster $v main restart failed (see /var/log/postgresql/postgresql-$v-main.log)"
  else
    log "starting PostgreSQL $v/main"
    as_root pg_ctlcluster --skip-systemctl-redirect "$v" main start \
      || die "pg_ctlcluster $v main start failed (see /var/log/postgresql/postgresql-$v-main.log)"
  fi
}

psql_admin() {
  psql -X -q -h "$PG_HOST" -p "$PG_PORT" -U postgres -d postgres -v ON_ERROR_STOP=1 "$@"
}

pg_ensure_test_db() {
  if ! command -v psql >/dev/null 2>&1 || ! command -v createdb >/dev/null 2>&1; then
    apt_install postgresql-client
  fi
  if ! psql_admin -tAc 'select 1' >/dev/null 2>&1; then
    # Up but refusing us: fix pg_hba on a local cluster and reload.
    local v
    v=$(pg_version 2>/dev/null || true)
    if [[ -n $v && -f /etc/postgresql/$v/main/pg_hba.conf ]] \
       && pg_ensure_trust "/etc/postgresql/$v/main/pg_hba.conf"; then
      as_root pg_ctlcluster --skip-systemctl-redirect "$v" main reload
      sleep 1
    fi
    psql_admin -tAc 'select 1' >/dev/null \
      || die "cannot log in as postgres over TCP on $PG_HOST:$PG_PORT (pg_hba trust for 127.0.0.1 needed)"
  fi
  if [[ "$(psql_admin -tAc "select 1 from pg_database where datname = '$TEST_DB'")" == 1 ]]; then
    log "database '$TEST_DB' exists"
  else
    log "creating database '$TEST_DB'"
    createdb -h "$PG_HOST" -p "$PG_PORT" -U postgres "$TEST_DB" || die "createdb $TEST_DB failed"
  fi
}

# ---------------------------------------------------------------- Redis

redis_start() {
  if ! command -v redis-server >/dev/null 2>&1; then
    apt_install redis-server
  fi
  log "starting Redis on $REDIS_HOST:$REDIS_PORT"
  # No persistence: it is a broker/cache for dev and tests, state is disposable.
  # A daemonized redis detaches before binding, so keep a log for wait_for's failure.
  redis-server --daemonize yes --bind "$REDIS_HOST" --port "$REDIS_PORT" \
    --save "" --appendonly no --logfile "$REDIS_LOG" >/dev/null \
    || die "redis-server failed to start (see $REDIS_LOG)"
}

# ---------------------------------------------------------------- ensure

wait_for() {
  local name=$1 probe=$2 i
  for ((i = 0; i < WAIT_SECONDS; i++)); do
    if "$probe"; then log "$name is up"; return 0; fi
    sleep 1
  done
  die "$name did not answer within ${WAIT_SECONDS}s (logs: /var/log/postgresql/, $REDIS_LOG)"
}

cmd_ensure() {
  local started=0
  if pg_up; then log "PostgreSQL is up on $PG_HOST:$PG_PORT"
  else pg_start; started=1; fi
  if redis_up; then log "Redis is up on $REDIS_HOST:$REDIS_PORT"
  else redis_start; started=1; fi
  if [[ $started -eq 1 ]]; then
    wait_for PostgreSQL pg_up
    wait_for Redis redis_up
  fi
  pg_ensure_test_db
}

case "${1:-ensure}" in
  check) cmd_check ;;
  ensure) cmd_ensure ;;
  -h|--help|help) sed -n '2,5p' "$0" ;;
  *) die "unknown subcommand '$1' (use: check | ensure)" ;;
esac
