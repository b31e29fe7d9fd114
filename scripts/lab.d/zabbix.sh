# shellcheck shell=bash
# Lab component zabbix: PostgreSQL 15 and Zabbix 6.0 (server, agent, API frontend) as real
# processes on loopback, all state under $LAB_DIR/zabbix.
#
#   postgres       127.0.0.1:$LAB_PG_PORT          database and role "zabbix", trust auth
#   zabbix-server  127.0.0.1:$LAB_ZBX_SERVER_PORT  trapper (and runtime control socket)
#   zabbix-agent   127.0.0.1:$LAB_ZBX_AGENT_PORT   plays the standby VM's agent, host "standby"
#   zabbix-api     http://127.0.0.1:$LAB_ZBX_WEB_PORT/api_jsonrpc.php  (PHP's built-in server)
# Secrets in $LAB_DIR/secrets (0600): zabbix-password (Admin's), zabbix-token (API token).
#
# `up` is a no-op when all four run and answer; otherwise it stops whatever is left of an
# earlier lab (ours only, checked by executable), wipes $LAB_DIR/zabbix and starts fresh.
# The imported schema is cached as a pg_dump in $LAB_CACHE: the import takes ~15 s, the
# restore about a second.

ZBX_DIR=$LAB_DIR/zabbix
ZBX_SECRETS=$LAB_DIR/secrets
ZBX_PASSWORD_FILE=$ZBX_SECRETS/zabbix-password
ZBX_TOKEN_FILE=$ZBX_SECRETS/zabbix-token
ZBX_SERVER_CONF=$ZBX_DIR/server/zabbix_server.conf
ZBX_AGENT_CONF=$ZBX_DIR/agent/zabbix_agentd.conf
ZBX_WEB=$ZBX_DIR/web
ZBX_API_URL=http://127.0.0.1:$LAB_ZBX_WEB_PORT/api_jsonrpc.php
ZBX_PG_BIN=/usr/lib/postgresql/15/bin     # Debian 12's PostgreSQL
ZBX_SCHEMA=/usr/share/zabbix-server-pgsql
ZBX_HELPER=$(dirname "${BASH_SOURCE[0]}")/zabbix/api.php
ZBX_PROCS="postgres zabbix-server zabbix-agent zabbix-api"

# _zbx_exe NAME: the executable a lab process NAME runs. PID files can outlive their
# process (a machine reused by CI keeps $LAB_RUN), and a reused PID must never be killed.
_zbx_exe() {
  case $1 in
    postgres) echo "$ZBX_PG_BIN/postgres" ;;
    zabbix-server) echo /usr/sbin/zabbix_server ;;
    zabbix-agent) echo /usr/sbin/zabbix_agentd ;;
    zabbix-api) readlink -f "$(command -v php)" ;;
  esac
}

# _zbx_pid NAME: the PID of lab process NAME if it runs and is what we started (by its
# executable: lab_alive).
_zbx_pid() { lab_pid "$1" "$(_zbx_exe "$1")"; }

# _zbx_stop NAME: stop lab process NAME, or only forget its PID file when the PID now
# belongs to something else. SIGINT is PostgreSQL's fast shutdown; SIGTERM would wait
# for clients to leave (its backends take SIGINT as a query cancel).
_zbx_stop() {
  local sig=TERM
  [ "$1" = postgres ] && sig=INT
  lab_stop "$1" "$(_zbx_exe "$1")" "" "$sig"
}

# _zbx_leftovers KIND: "PID EXE" of every process of ours still running, KIND postgres
# or others: a lab daemon or any of its children (their stdout is the lab log lab_start
# opened), or a daemon whose command line names a path in $ZBX_DIR.
_zbx_leftovers() {
  local f pid exe out
  while read -r f; do
    pid=${f#/proc/} pid=${pid%/exe}
    exe=$(readlink "$f" 2>/dev/null) || continue
    if [ "$1" = postgres ]; then [ "$exe" = "$ZBX_PG_BIN/postgres" ] || continue
    else [ "$exe" != "$ZBX_PG_BIN/postgres" ] || continue; fi
    out=$(readlink "/proc/$pid/fd/1" 2>/dev/null) || true
    case $out in
      "$LAB_LOG/postgres.log" | "$LAB_LOG"/zabbix-*.log) ;;
      *) { tr '\0' ' ' <"/proc/$pid/cmdline"; } 2>/dev/null | grep -qF "$ZBX_DIR/" || continue ;;
    esac
    echo "$pid $exe"
  done < <(find /proc/[0-9]*/exe -maxdepth 0 \( -lname "$ZBX_PG_BIN/postgres" -o -lname /usr/sbin/zabbix_server \
    -o -lname /usr/sbin/zabbix_agentd -o -lname "$(_zbx_exe zabbix-api)" \) 2>/dev/null)
}

# _zbx_stop_orphans: stop processes of ours that no lab PID file names any more (a lost
# $LAB_RUN, an `up` killed half-way, a child that outlived its daemon). Zabbix first:
# its HA manager stops answering SIGTERM once the database has gone.
_zbx_stop_orphans() {
  local kind sig pids
  for kind in others postgres; do
    pids=$(_zbx_leftovers "$kind" | cut -d' ' -f1)
    [ -n "$pids" ] || continue
    lab_log "stopping leftover processes of an earlier lab: $(_zbx_leftovers "$kind" | cut -d' ' -f2 | sort | uniq -c | xargs)"
    # SIGINT is PostgreSQL's fast shutdown (backends take it as a query cancel).
    sig=TERM
    [ "$kind" = postgres ] && sig=INT
    # shellcheck disable=SC2086 # a list of PIDs
    kill "-$sig" $pids 2>/dev/null || true
    for _ in $(seq 100); do [ -n "$(_zbx_leftovers "$kind")" ] || break; sleep 0.05; done
    pids=$(_zbx_leftovers "$kind" | cut -d' ' -f1)
    # shellcheck disable=SC2086
    [ -z "$pids" ] || kill -KILL $pids 2>/dev/null || true
  done
}

# _zbx_stop_all: stop every process of this component, including orphans.
_zbx_stop_all() {
  local n
  for n in zabbix-api zabbix-agent zabbix-server postgres; do _zbx_stop "$n"; done
  _zbx_stop_orphans
}

# _zbx_answers PORT: whether something accepts TCP connections on 127.0.0.1:PORT.
_zbx_answers() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

_zbx_port() {
  case $1 in
    postgres) echo "$LAB_PG_PORT" ;;
    zabbix-server) echo "$LAB_ZBX_SERVER_PORT" ;;
    zabbix-agent) echo "$LAB_ZBX_AGENT_PORT" ;;
    zabbix-api) echo "$LAB_ZBX_WEB_PORT" ;;
  esac
}

_zbx_api_version() { php "$ZBX_HELPER" "$ZBX_API_URL" version 2>/dev/null; }

# _zbx_healthy: all four processes run, answer, and the secrets exist.
_zbx_healthy() {
  local n
  for n in $ZBX_PROCS; do
    _zbx_pid "$n" >/dev/null && _zbx_answers "$(_zbx_port "$n")" || return 1
  done
  [ -s "$ZBX_PASSWORD_FILE" ] && [ -s "$ZBX_TOKEN_FILE" ] && [ -n "$(_zbx_api_version)" ]
}

# _zbx_wait NAME SECONDS [CHECK...]: wait until lab process NAME answers (CHECK, or a TCP
# connect to its port), failing early with its log when it exits.
_zbx_wait() {
  local name=$1 secs=$2
  shift 2
  [ $# -gt 0 ] || set -- _zbx_answers "$(_zbx_port "$name")"
  lab_wait "$name" "$secs" "does not answer" "$@"
}

_zbx_psql() { "$ZBX_PG_BIN/psql" -X -q -v ON_ERROR_STOP=1 -h 127.0.0.1 -p "$LAB_PG_PORT" "$@"; }

_zbx_pg_start() {
  local pg=$ZBX_DIR/pg
  mkdir -p "$pg/run"
  chown -R postgres:postgres "$pg"
  setpriv --reuid=postgres --regid=postgres --init-groups test -w "$pg" ||
    lab_die "user postgres cannot write to $pg: every parent folder must be traversable"
  # PostgreSQL refuses to run as root. setpriv execs (runuser would fork), so the PID
  # file names the postmaster itself. --no-sync: the cluster is thrown away anyway.
  (cd "$pg" && setpriv --reuid=postgres --regid=postgres --init-groups \
    "$ZBX_PG_BIN/initdb" -D "$pg/data" -U postgres -A trust -E UTF8 --no-locale --no-sync) \
    >>"$LAB_LOG/postgres.log" 2>&1 || lab_die "initdb failed (log: $LAB_LOG/postgres.log)"
  # Trust auth on loopback only: the lab's database holds nothing worth a password. No
  # durability either (fsync off): a crashed lab is recreated, never recovered.
  cat >>"$pg/data/postgresql.conf" <<EOF

# vcrcovery lab (scripts/lab.d/zabbix.sh)
listen_addresses = '127.0.0.1'
port = $LAB_PG_PORT
unix_socket_directories = '$pg/run'
fsync = off
synchronous_commit = off
full_page_writes = off
shared_buffers = 64MB
EOF
  lab_start postgres setpriv --reuid=postgres --regid=postgres --init-groups \
    "$ZBX_PG_BIN/postgres" -D "$pg/data" 9>&-
  _zbx_wait postgres 30 "$ZBX_PG_BIN/pg_isready" -q -h 127.0.0.1 -p "$LAB_PG_PORT"
}

# _zbx_db_load: database "zabbix" with the Zabbix schema, from the cache when there is one.
_zbx_db_load() {
  local ver dump
  ver=$(dpkg-query -W -f='${Version}' zabbix-server-pgsql)
  dump=$LAB_CACHE/zabbix-db-${ver//[^A-Za-z0-9.+-]/_}-pg15.dump
  _zbx_psql -U postgres -d postgres -c 'CREATE ROLE zabbix LOGIN' \
    -c "CREATE DATABASE zabbix OWNER zabbix ENCODING 'UTF8' TEMPLATE template0"
  if [ -s "$dump" ]; then
    if "$ZBX_PG_BIN/pg_restore" -h 127.0.0.1 -p "$LAB_PG_PORT" -U zabbix -d zabbix \
      --single-transaction --exit-on-error "$dump" >>"$LAB_LOG/postgres.log" 2>&1; then
      return 0
    fi
    lab_log "cached schema $dump does not restore: importing afresh"
    rm -f "$dump"
    _zbx_psql -U postgres -d postgres -c 'DROP DATABASE zabbix' \
      -c "CREATE DATABASE zabbix OWNER zabbix ENCODING 'UTF8' TEMPLATE template0"
  fi
  lab_log "importing the Zabbix $ver schema (about 15 s; cached for the next up)"
  # data.sql is one transaction of its own (130k INSERTs, one round trip each: most of
  # the time), so psql -1 would gain nothing.
  zcat "$ZBX_SCHEMA/schema.sql.gz" "$ZBX_SCHEMA/images.sql.gz" "$ZBX_SCHEMA/data.sql.gz" |
    _zbx_psql -U zabbix -d zabbix >>"$LAB_LOG/postgres.log" 2>&1 ||
    lab_die "schema import failed (log: $LAB_LOG/postgres.log)"
  # Write then rename: a killed `up` must not leave a truncated cache behind.
  if "$ZBX_PG_BIN/pg_dump" -h 127.0.0.1 -p "$LAB_PG_PORT" -U zabbix -Fc -f "$dump.tmp.$$" zabbix; then
    mv -f "$dump.tmp.$$" "$dump"
  else
    rm -f "$dump.tmp.$$"
    lab_log "cannot cache the schema in $dump"
  fi
}

_zbx_server_conf() {
  mkdir -p "$ZBX_DIR/server"
  # zabbix_server drops to user zabbix before it writes its PID file and sockets.
  chown zabbix:zabbix "$ZBX_DIR/server"
  setpriv --reuid=zabbix --regid=zabbix --init-groups test -w "$ZBX_DIR/server" ||
    lab_die "user zabbix cannot write to $ZBX_DIR/server: every parent folder must be traversable"
  cat >"$ZBX_SERVER_CONF" <<EOF
# Zabbix server of the vcrcovery lab (scripts/lab.d/zabbix.sh). Runs with -f; its log
# goes to the console, which lab_start sends to $LAB_LOG/zabbix-server.log.
ListenIP=127.0.0.1
ListenPort=$LAB_ZBX_SERVER_PORT
LogType=console
PidFile=$ZBX_DIR/server/zabbix_server.pid
# Runtime control (zabbix_server -R config_cache_reload) talks over a socket here.
SocketDir=$ZBX_DIR/server
DBHost=127.0.0.1
DBPort=$LAB_PG_PORT
DBName=zabbix
DBUser=zabbix
# Few processes: 2 cores, and the lab only needs trappers, history syncers, the timer
# and escalator (actions), LLD (sender's discovery) and one poller for agent checks.
StartPollers=1
StartPollersUnreachable=1
StartHistoryPollers=1
StartPreprocessors=1
StartTrappers=3
StartPingers=0
StartDiscoverers=0
StartHTTPPollers=0
StartODBCPollers=0
StartTimers=1
StartEscalators=1
StartAlerters=1
StartDBSyncers=2
StartLLDProcessors=1
CacheSize=16M
HistoryCacheSize=16M
HistoryIndexCacheSize=4M
TrendCacheSize=4M
ValueCacheSize=16M
# Remote commands (script.execute) wait for the agent: allow a whole recovery run.
Timeout=30
EOF
}

_zbx_agent_conf() {
  mkdir -p "$ZBX_DIR/agent"
  cat >"$ZBX_AGENT_CONF" <<EOF
# Zabbix agent of the vcrcovery lab (scripts/lab.d/zabbix.sh): it plays the standby VM's
# agent, where the server's remote commands run vcr-recover.
ListenIP=127.0.0.1
ListenPort=$LAB_ZBX_AGENT_PORT
Hostname=standby
Server=127.0.0.1
# No ServerActive: the standby's agent serves passive checks and remote commands only.
LogType=console
PidFile=$ZBX_DIR/agent/zabbix_agentd.pid
StartAgents=3
# Remote commands (EnableRemoteCommands is deprecated in 6.0).
AllowKey=system.run[*]
LogRemoteCommands=1
# Root on purpose: recovery on the standby VM drives LXD, takes locks and reads the TSIG
# key, which needs root there; the lab agent runs what the real one would.
AllowRoot=1
# A recovery run takes seconds, not the default 3.
Timeout=30
EOF
}

# _zbx_web_setup: a private copy of the frontend whose config file lives in the copy.
_zbx_web_setup() {
  local cfg=$ZBX_WEB/include/classes/core/CConfigFile.php
  cp -a /usr/share/zabbix "$ZBX_WEB"
  # Debian hard-codes /etc/zabbix/zabbix.conf.php; the lab writes nothing into /etc.
  sed -i "s|^\(\s*const CONFIG_FILE_PATH = \)'[^']*';|\1'$ZBX_WEB/conf/zabbix.conf.php';|" "$cfg"
  grep -qF "const CONFIG_FILE_PATH = '$ZBX_WEB/conf/zabbix.conf.php';" "$cfg" ||
    lab_die "cannot point $cfg at the lab's zabbix.conf.php (frontend changed?)"
  cat >"$ZBX_WEB/conf/zabbix.conf.php" <<EOF
<?php
// Zabbix frontend of the vcrcovery lab (scripts/lab.d/zabbix.sh).
\$DB['TYPE']            = 'POSTGRESQL';
\$DB['SERVER']          = '127.0.0.1';
\$DB['PORT']            = '$LAB_PG_PORT';
\$DB['DATABASE']        = 'zabbix';
\$DB['USER']            = 'zabbix';
\$DB['PASSWORD']        = '';
\$DB['SCHEMA']          = '';
\$DB['ENCRYPTION']      = false;
\$DB['KEY_FILE']        = '';
\$DB['CERT_FILE']       = '';
\$DB['CA_FILE']         = '';
\$DB['VERIFY_HOST']     = false;
\$DB['CIPHER_LIST']     = '';
\$DB['VAULT_URL']       = '';
\$DB['VAULT_DB_PATH']   = '';
\$DB['VAULT_TOKEN']     = '';
\$DB['DOUBLE_IEEE754']  = true;
\$ZBX_SERVER            = '127.0.0.1';
\$ZBX_SERVER_PORT       = '$LAB_ZBX_SERVER_PORT';
\$ZBX_SERVER_NAME       = 'vcrcovery lab';
\$IMAGE_FORMAT_DEFAULT  = IMAGE_FORMAT_PNG;
EOF
}

zabbix_up() {
  local n port
  lab_apt zabbix-server-pgsql zabbix-agent zabbix-frontend-php php-cli php-pgsql postgresql
  if _zbx_healthy; then
    lab_log "zabbix already up"
    return 0
  fi
  _zbx_stop_all
  rm -rf "$ZBX_DIR"
  rm -f "$ZBX_PASSWORD_FILE" "$ZBX_TOKEN_FILE"
  for n in $ZBX_PROCS; do
    port=$(_zbx_port "$n")
    if _zbx_answers "$port"; then
      lab_die "port $port (for $n) is taken by a process this lab did not start: $(ss -Hltnp "sport = :$port" 2>/dev/null)"
    fi
  done
  mkdir -p "$ZBX_DIR"
  # Users postgres and zabbix must reach their folders even under a strict umask.
  chmod 0755 "$ZBX_DIR"
  chmod a+x "$LAB_DIR"

  _zbx_pg_start
  _zbx_db_load
  # Disable the built-in host "Zabbix server" (status 1) before the server reads its
  # configuration: it would poll an agent on the default port 10050.
  _zbx_psql -U zabbix -d zabbix -c "UPDATE hosts SET status = 1 WHERE host = 'Zabbix server'"

  _zbx_server_conf
  _zbx_agent_conf
  _zbx_web_setup
  # "9>&-" everywhere a daemon starts: fd 9 holds scripts/lab's flock, and a daemon that
  # inherits it keeps the lock, so the next `up` or `down` would wait for it forever.
  lab_start zabbix-server /usr/sbin/zabbix_server -f -c "$ZBX_SERVER_CONF" 9>&-
  lab_start zabbix-agent /usr/sbin/zabbix_agentd -f -c "$ZBX_AGENT_CONF" 9>&-
  # Several workers so that concurrent tests do not queue behind one slow API call; errors
  # to the log, never into a JSON answer.
  lab_start zabbix-api env PHP_CLI_SERVER_WORKERS=4 php -d date.timezone=UTC \
    -d display_errors=0 -d log_errors=1 -d opcache.enable_cli=1 \
    -S "127.0.0.1:$LAB_ZBX_WEB_PORT" -t "$ZBX_WEB" 9>&-
  _zbx_wait zabbix-server 30
  _zbx_wait zabbix-agent 30
  _zbx_wait zabbix-api 30 _zbx_api_version

  mkdir -p "$ZBX_SECRETS"
  chmod 0700 "$ZBX_SECRETS"
  # The frontend's default password for Admin, kept, but read from a file like production.
  (umask 077 && printf '%s' zabbix >"$ZBX_PASSWORD_FILE")
  (umask 077 && php "$ZBX_HELPER" "$ZBX_API_URL" token Admin "$ZBX_PASSWORD_FILE" vcr-lab \
    >"$ZBX_TOKEN_FILE.tmp") || lab_die "cannot create the API token"
  mv -f "$ZBX_TOKEN_FILE.tmp" "$ZBX_TOKEN_FILE"
  chmod 0600 "$ZBX_PASSWORD_FILE" "$ZBX_TOKEN_FILE"
}

zabbix_down() {
  _zbx_stop_all
  rm -rf "$ZBX_DIR"
  rm -f "$ZBX_PASSWORD_FILE" "$ZBX_TOKEN_FILE" "$ZBX_TOKEN_FILE.tmp"
}

zabbix_status() {
  local rc=0 n addr state
  for n in $ZBX_PROCS; do
    addr=127.0.0.1:$(_zbx_port "$n")
    [ "$n" = zabbix-api ] && addr=$ZBX_API_URL
    if ! _zbx_pid "$n" >/dev/null; then
      state=down rc=1
    elif ! _zbx_answers "$(_zbx_port "$n")"; then
      state=noanswer rc=1
    else
      state=up
    fi
    lab_status_line "$n" "$state" "$addr"
  done
  return $rc
}

# zabbix_env prints nothing while the component is down, so that tests skip (or, under
# CI, fail) on the missing variables instead of on connection errors.
zabbix_env() {
  local n
  for n in $ZBX_PROCS; do _zbx_pid "$n" >/dev/null || return 0; done
  cat <<EOF
export VCR_LAB_ZABBIX_TRAPPER=127.0.0.1:$LAB_ZBX_SERVER_PORT
export VCR_LAB_ZABBIX_API=$ZBX_API_URL
export VCR_LAB_ZABBIX_USER=Admin
export VCR_LAB_ZABBIX_PASSWORD_FILE=$ZBX_PASSWORD_FILE
export VCR_LAB_ZABBIX_TOKEN_FILE=$ZBX_TOKEN_FILE
export VCR_LAB_ZABBIX_AGENT=127.0.0.1:$LAB_ZBX_AGENT_PORT
export VCR_LAB_ZABBIX_AGENT_HOST=standby
export VCR_LAB_ZABBIX_SERVER_CONF=$ZBX_SERVER_CONF
export VCR_LAB_PG=postgresql://zabbix@127.0.0.1:$LAB_PG_PORT/zabbix
EOF
}
