# shellcheck shell=bash
# Shared helpers of scripts/test, scripts/demo, scripts/bench and .ci/run. Source it.
#
# Environment (all optional):
#   ODOO_BIN         the Odoo 19 launcher (`odoo` or `odoo-bin`) to use; tried first.
#   ODOO_PYTHON      a python that imports that Odoo (derived from ODOO_BIN if unset).
#   ICP_ODOO_SEARCH_PATHS  colon-separated launchers (globs allowed) replacing the
#                    default search list; e.g. =/nonexistent simulates "no Odoo".
#   ICP_ADDONS_PATH  our addons path (default: the repository root).
#   ICP_MODULE       the module under test (default: invoice_client_pay).

ICP_REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
ICP_MODULE=${ICP_MODULE:-invoice_client_pay}
ICP_ADDONS_PATH=${ICP_ADDONS_PATH:-$ICP_REPO}
export ICP_REPO ICP_MODULE ICP_ADDONS_PATH

icp_log() { printf '[icp] %s\n' "$*" >&2; }

# A loud, framed error, then exit 1.
icp_die() {
    {
        printf '\n%s\n## ERROR\n' "######################################################################"
        printf '## %s\n' "$@"
        printf '%s\n\n' "######################################################################"
    } >&2
    exit 1
}

# ---------------------------------------------------------------- Odoo lookup

# Prints the python running launcher $1 that imports Odoo 19.0: its shebang's,
# else one beside it (or beside the file a symlink points to).
_icp_python_for() {
    local bin=$1 first cand
    local -a cands=()
    if IFS= read -r first <"$bin" 2>/dev/null && [ "${first#\#!}" != "$first" ]; then
        read -r -a words <<<"${first#\#!}"
        if [ "${words[0]}" = /usr/bin/env ]; then cands+=("$(command -v "${words[1]:-}")"); else cands+=("${words[0]}"); fi
    fi
    cands+=("$(dirname "$bin")/python3" "$(dirname "$(readlink -f "$bin")")/python3")
    for cand in "${cands[@]}"; do
        [ -x "$cand" ] || continue
        "$cand" -c 'import sys, odoo.release as r; sys.exit(r.version_info[:2] != (19, 0))' \
            >/dev/null 2>&1 </dev/null && { echo "$cand"; return 0; }
    done
    return 1
}

# Exports ODOO_BIN and ODOO_PYTHON for the first launcher whose --version says
# "Odoo Server 19.0". With --no-die, returns 1 instead of exiting.
icp_find_odoo() {
    local -a patterns=() looked=() cands=()
    local pattern cand version py
    if [ -n "${ICP_ODOO_SEARCH_PATHS:-}" ]; then
        IFS=: read -r -a patterns <<<"$ICP_ODOO_SEARCH_PATHS"
    else
        mapfile -t patterns < <(type -ap odoo odoo-bin 2>/dev/null || true)
        patterns+=("$ICP_REPO/.venv-odoo/bin/odoo" '/opt/*/venv/bin/odoo' '/opt/*/bin/odoo'
            /usr/bin/odoo "$HOME/.local/bin/odoo")
    fi
    [ -z "${ODOO_BIN:-}" ] || patterns=("$ODOO_BIN" "${patterns[@]}")
    for pattern in "${patterns[@]}"; do
        mapfile -t cands < <(compgen -G "$pattern" || echo "$pattern")
        for cand in "${cands[@]}"; do
            version=""
            [ ! -x "$cand" ] || version=$(timeout 120 "$cand" --version 2>/dev/null </dev/null | head -n 1) || true
            case $version in
                "Odoo Server 19.0"*) ;;
                *) looked+=("$cand -> ${version:-not an Odoo launcher}"); continue ;;
            esac
            py=${ODOO_PYTHON:-$(_icp_python_for "$cand")} || py=""
            if [ -z "$py" ]; then looked+=("$cand -> $version, but no python importing it"); continue; fi
            export ODOO_BIN=$cand ODOO_PYTHON=$py
            icp_log "Odoo: $ODOO_BIN ($version), python: $ODOO_PYTHON"
            return 0
        done
    done
    [ "${1:-}" = --no-die ] && return 1
    icp_die "NO ODOO 19 FOUND: the Odoo test suite and server cannot run." \
        "Looked at:" "${looked[@]/#/   }" \
        "Point the scripts at one: ODOO_BIN=/path/to/odoo-bin $0" \
        "or let scripts/demo install one (from git, or ODOO_SRC=/path/to/odoo-19-source)."
}

# Odoo's own addons directories plus ours, comma-separated.
icp_full_addons_path() {
    "$ODOO_PYTHON" -c 'import odoo.addons, sys
print(",".join([sys.argv[1], *(p for p in odoo.addons.__path__ if isinstance(p, str))]))' \
        "$ICP_ADDONS_PATH" </dev/null
}

# ------------------------------------------------------------ Community guard

# Refuses an Enterprise repository on the addons path, and an Enterprise module
# among what installing "$@" loads (scripts/check_community.py says why).
icp_check_community() {
    local out
    out=$("$ODOO_PYTHON" "$ICP_REPO/scripts/check_community.py" "$(icp_full_addons_path)" "$@" </dev/null) ||
        icp_die "ODOO ENTERPRISE CODE IN THIS RUN - refusing: this project runs on Odoo Community only." \
            "${out:-check_community.py failed}"
    icp_log "Community only: nothing from Odoo Enterprise is loaded by installing $*"
}

# After a run: the licenses of what database "$1" really installed.
icp_check_installed_community() {
    local bad
    bad=$(psql -X -d "$1" -Atc "SELECT name FROM ir_module_module
        WHERE state = 'installed' AND license LIKE 'OEEL%'" </dev/null) || return 1
    [ -z "$bad" ] || { echo "Enterprise modules installed in '$1': $bad"; return 1; }
}

# ------------------------------------------------------------- PostgreSQL

# Starts the local cluster when it is down, waits for it, and makes sure a
# superuser role named after the current OS user exists (Odoo refuses "postgres").
icp_ensure_postgres() {
    local user ver name port status _rest waited=0
    user=$(id -un)
    if command -v pg_lsclusters >/dev/null 2>&1; then
        read -r ver name port status _rest < <(pg_lsclusters --no-header | sort -r | head -n 1)
        [ -n "${ver:-}" ] || icp_die "No PostgreSQL cluster (create one: pg_createcluster 15 main --start)."
        if [ "${status%%,*}" != online ]; then
            icp_log "starting PostgreSQL $ver/$name"
            pg_ctlcluster "$ver" "$name" start || icp_die "pg_ctlcluster $ver $name start failed."
        fi
        export PGPORT=${PGPORT:-$port}
    fi
    until pg_isready -q; do
        [ "$waited" -lt 30 ] || icp_die "PostgreSQL does not accept connections (pg_isready)."
        sleep 1
        waited=$((waited + 1))
    done
    if ! psql -X -q -d postgres -Atc 'SELECT 1' >/dev/null 2>&1 </dev/null; then
        [ "$(id -u)" -eq 0 ] || icp_die "No PostgreSQL role '$user': CREATE ROLE \"$user\" SUPERUSER LOGIN;"
        icp_log "creating PostgreSQL superuser role '$user'"
        (cd / && runuser -u postgres -- createuser --superuser "$user") ||
            icp_die "Could not create the PostgreSQL role '$user'."
    fi
}

# Drops database "$1" and its filestore.
icp_drop_db() {
    PGOPTIONS='-c client_min_messages=warning' dropdb --if-exists --force "$1" </dev/null ||
        icp_die "Could not drop database '$1'."
    [ -z "${ODOO_PYTHON:-}" ] || "$ODOO_PYTHON" -c 'import shutil, sys
from odoo.tools import config
shutil.rmtree(config.filestore(sys.argv[1]), ignore_errors=True)' "$1" </dev/null 2>/dev/null || true
}

# ------------------------------------------------- system and python packages

icp_apt_install() {
    [ "$(id -u)" -eq 0 ] && command -v apt-get >/dev/null 2>&1 || return 1
    icp_log "apt-get install $*"
    { apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "$@"; } \
        </dev/null >&2
}

# Chromium for HttpCase tours (Odoo looks for these names).
icp_ensure_chromium() {
    command -v chromium >/dev/null 2>&1 || command -v google-chrome >/dev/null 2>&1 ||
        icp_apt_install chromium || true
    command -v chromium >/dev/null 2>&1 || command -v google-chrome >/dev/null 2>&1 ||
        icp_die "No Chromium: the browser tests need it (Debian: apt-get install chromium)."
}

# wkhtmltopdf renders Odoo's PDF reports (Debian's package, as Odoo's install guide says).
icp_ensure_wkhtmltopdf() {
    command -v wkhtmltopdf >/dev/null 2>&1 || icp_apt_install wkhtmltopdf fonts-dejavu-core || true
    wkhtmltopdf --version >/dev/null 2>&1 </dev/null ||
        icp_die "wkhtmltopdf is missing or does not run: no PDF can be rendered (Debian: apt-get install wkhtmltopdf)."
}

# What the module and its tests need in Odoo's python (requirements-odoo.txt)
# goes into .odoo-test-deps on PYTHONPATH, never into the Odoo installation.
# localstripe gets a venv of its own.
icp_ensure_odoo_deps() {
    local dir=$ICP_REPO/.odoo-test-deps want probe='import stripe, websocket, hypothesis, pytest_odoo'
    export PYTHONPATH="$dir${PYTHONPATH:+:$PYTHONPATH}"
    "$ODOO_PYTHON" -c "$probe" >/dev/null 2>&1 </dev/null && return 0
    want=$(sha256sum "$ICP_REPO/requirements-odoo.txt")
    if [ "$(cat "$dir/.stamp" 2>/dev/null)" != "$want" ]; then
        icp_log "installing requirements-odoo.txt into $dir"
        rm -rf "$dir"
        python3 -m pip install -q --disable-pip-version-check --no-deps --target "$dir" \
            -r "$ICP_REPO/requirements-odoo.txt" </dev/null && echo "$want" >"$dir/.stamp"
    fi
    "$ODOO_PYTHON" -c "$probe" >/dev/null 2>&1 </dev/null ||
        icp_die "Odoo's python lacks requirements-odoo.txt (stripe, websocket-client...). Is PyPI reachable?"
}

icp_ensure_localstripe() {
    local venv=$ICP_REPO/.venv-localstripe
    if ! "$venv/bin/python" -c 'import localstripe' >/dev/null 2>&1 </dev/null; then
        icp_log "installing requirements-localstripe.txt into $venv"
        rm -rf "$venv"
        { python3 -m venv "$venv" && "$venv/bin/pip" install -q --disable-pip-version-check \
            -r "$ICP_REPO/requirements-localstripe.txt"; } </dev/null ||
            icp_die "Could not install localstripe (requirements-localstripe.txt). Is PyPI reachable?"
    fi
    export ICP_LOCALSTRIPE_PYTHON=$venv/bin/python
}

# A free TCP port on 127.0.0.1.
icp_free_port() {
    python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}
