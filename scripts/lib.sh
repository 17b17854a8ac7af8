# shellcheck shell=bash
# Shared helpers for scripts/test, scripts/demo and .ci/run. Source it; do not run it.
#
# Environment knobs (all optional):
#   ODOO_BIN               Odoo 19 launcher to use (`odoo` or `odoo-bin`); tried first.
#   ODOO_PYTHON            Python that can `import odoo` for ODOO_BIN (derived if unset).
#   ICP_ODOO_SEARCH_PATHS  Colon-separated candidate launchers (globs allowed) that
#                          REPLACES the default search list below (ODOO_BIN is still
#                          tried first). E.g. ICP_ODOO_SEARCH_PATHS=/nonexistent
#                          simulates a machine without Odoo.
#   ICP_ADDONS_PATH        Comma-separated addons path for our runs (default: the
#                          repository root, which holds the module directory).
#   ICP_MODULE             Module to test/install (default: invoice_client_pay).
#                          These two exist so the tooling can be exercised on a
#                          throwaway module outside the repository.
#   ICP_PG_WAIT            Seconds to wait for PostgreSQL to accept connections (30).

ICP_REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
ICP_MODULE=${ICP_MODULE:-invoice_client_pay}
ICP_ADDONS_PATH=${ICP_ADDONS_PATH:-$ICP_REPO}
export ICP_REPO ICP_MODULE ICP_ADDONS_PATH

icp_log() { printf '[icp] %s\n' "$*" >&2; }

# Loud, multi-line error, then exit 1 (exits the sourcing script).
icp_die() {
    {
        echo
        echo "######################################################################"
        echo "## ERROR"
        local line
        for line in "$@"; do echo "## $line"; done
        echo "######################################################################"
        echo
    } >&2
    exit 1
}

# ---------------------------------------------------------------- Odoo lookup

# Succeeds when "$1" is an executable whose --version says Odoo Server 19.0.
# Prints the version line (or why not) on stdout for the "where it looked" report.
_icp_probe_odoo() {
    local cand=$1 out
    if [ ! -e "$cand" ]; then echo "not found"; return 1; fi
    if [ ! -f "$cand" ] || [ ! -x "$cand" ]; then echo "not an executable file"; return 1; fi
    # stderr carries "Running as user 'root' is a security risk." - not part of the answer.
    out=$(timeout 120 "$cand" --version 2>/dev/null </dev/null | head -n 1) || true
    case $out in
        "Odoo Server 19.0"*) echo "$out"; return 0 ;;
        "") echo "no version output"; return 1 ;;
        *) echo "wrong version: $out"; return 1 ;;
    esac
}

# Succeeds when python "$1" imports an Odoo 19.0.
_icp_python_has_odoo19() {
    [ -x "$1" ] || return 1
    "$1" -c 'import sys, odoo.release as r; sys.exit(0 if r.version_info[:2] == (19, 0) else 1)' \
        >/dev/null 2>&1 </dev/null
}

# Prints the python that runs launcher "$1": its shebang interpreter, else a python
# next to it (venv bin/ or the real file behind a symlink), else python3 on PATH.
_icp_python_for() {
    local bin=$1 first interp cand real
    local -a cands=() words=()
    if IFS= read -r first <"$bin" 2>/dev/null && [ "${first#\#!}" != "$first" ]; then
        interp=${first#\#!}
        read -r -a words <<<"$interp"
        if [ "${words[0]:-}" = "/usr/bin/env" ] && [ -n "${words[1]:-}" ]; then
            interp=$(command -v "${words[1]}" || true)
        else
            interp=${words[0]:-}
        fi
        [ -n "$interp" ] && cands+=("$interp")
    fi
    cands+=("$(dirname "$bin")/python3" "$(dirname "$bin")/python")
    real=$(readlink -f "$bin" 2>/dev/null || true)
    [ -n "$real" ] && cands+=("$(dirname "$real")/python3" "$(dirname "$real")/python")
    cands+=("$(command -v python3 || true)")
    for cand in "${cands[@]}"; do
        if [ -n "$cand" ] && _icp_python_has_odoo19 "$cand"; then
            echo "$cand"
            return 0
        fi
    done
    return 1
}

# Default candidate launchers, one pattern per line, in search order.
_icp_default_candidates() {
    printf '%s\n' "$ICP_REPO/.venv-odoo/bin/odoo"
    # Every odoo / odoo-bin on PATH, not just the first one.
    type -ap odoo odoo-bin 2>/dev/null || true
    printf '%s\n' '/opt/*/venv/bin/odoo' '/opt/*/bin/odoo' /usr/bin/odoo "$HOME/.local/bin/odoo"
}

# Locates Odoo 19 and exports ODOO_BIN and ODOO_PYTHON.
# With --no-die it returns 1 instead of exiting (scripts/demo then installs one).
icp_find_odoo() {
    local die=1
    [ "${1:-}" = "--no-die" ] && die=0
    local -a looked=()
    local pattern cand why py
    local -a patterns=()

    if [ -n "${ODOO_BIN:-}" ]; then
        if why=$(_icp_probe_odoo "$ODOO_BIN"); then
            if [ -n "${ODOO_PYTHON:-}" ]; then
                _icp_python_has_odoo19 "$ODOO_PYTHON" ||
                    icp_die "ODOO_PYTHON=$ODOO_PYTHON cannot import Odoo 19 (odoo.release)." \
                        "Unset it to let the scripts derive it from ODOO_BIN=$ODOO_BIN."
                py=$ODOO_PYTHON
            else
                py=$(_icp_python_for "$ODOO_BIN") || py=""
            fi
            if [ -n "$py" ]; then
                export ODOO_BIN ODOO_PYTHON=$py
                icp_log "Odoo: $ODOO_BIN ($why), python: $ODOO_PYTHON"
                return 0
            fi
            why="$why, but no python importing Odoo 19 found for it (set ODOO_PYTHON)"
        fi
        looked+=("ODOO_BIN=$ODOO_BIN  -> $why")
        icp_log "WARNING: ODOO_BIN=$ODOO_BIN is not a usable Odoo 19 ($why); searching further."
    fi

    if [ -n "${ICP_ODOO_SEARCH_PATHS:-}" ]; then
        IFS=: read -r -a patterns <<<"$ICP_ODOO_SEARCH_PATHS"
    else
        mapfile -t patterns < <(_icp_default_candidates)
    fi

    for pattern in "${patterns[@]}"; do
        [ -n "$pattern" ] || continue
        local -a matches=()
        mapfile -t matches < <(compgen -G "$pattern" || true)
        if [ "${#matches[@]}" -eq 0 ]; then
            looked+=("$pattern  -> not found")
            continue
        fi
        for cand in "${matches[@]}"; do
            if why=$(_icp_probe_odoo "$cand"); then
                if py=$(_icp_python_for "$cand"); then
                    export ODOO_BIN=$cand ODOO_PYTHON=$py
                    icp_log "Odoo: $ODOO_BIN ($why), python: $ODOO_PYTHON"
                    return 0
                fi
                why="$why, but no python importing Odoo 19 found for it"
            fi
            looked+=("$cand  -> $why")
        done
    done

    [ "$die" -eq 1 ] || return 1
    local -a msg=(
        "NO ODOO 19 FOUND - the Odoo test suite / server cannot run."
        ""
        "Looked at (in this order):"
    )
    local l
    for l in "${looked[@]}"; do msg+=("   $l"); done
    msg+=(
        ""
        "A candidate counts only if '<candidate> --version' prints 'Odoo Server 19.0...'."
        "Point the scripts at an Odoo 19 launcher (odoo or odoo-bin):"
        "   ODOO_BIN=/path/to/odoo [ODOO_PYTHON=/path/to/its/python] $0"
        "or run scripts/demo, which installs Odoo 19 into ./.venv-odoo when it can."
    )
    [ -n "${ICP_ODOO_SEARCH_PATHS:-}" ] &&
        msg+=("(ICP_ODOO_SEARCH_PATHS=$ICP_ODOO_SEARCH_PATHS replaced the default search list.)")
    icp_die "${msg[@]}"
}

# ------------------------------------------------------ enterprise guard

# Refuses (exit 1) when any addons directory our runs use holds a module whose
# manifest has an Odoo Enterprise license (OEEL-*): this project must run on
# Odoo Community only.
# Checked: our addons path, Odoo's own odoo.addons.__path__ entries, and the extra
# directories Odoo appends by itself (data-dir addons, the source tree's addons/).
icp_check_no_enterprise() {
    [ -n "${ODOO_PYTHON:-}" ] || icp_die "icp_check_no_enterprise: call icp_find_odoo first."
    local out rc=0
    out=$("$ODOO_PYTHON" - "$ICP_ADDONS_PATH" <<'PY' 2>&1
import ast
import os
import re
import sys

import odoo.addons

dirs = [d for d in sys.argv[1].split(",") if d]
dirs += [d for d in odoo.addons.__path__ if isinstance(d, str)]
try:  # directories Odoo adds to the addons path on its own
    from odoo.tools import config

    dirs += [config.addons_data_dir, config.addons_community_dir]
except Exception:  # older layouts: the entries above are what matters
    pass

seen, bad = set(), []
for d in dirs:
    if not os.path.isdir(d):
        continue  # e.g. the editable-install path hook entry
    d = os.path.realpath(d)
    if d in seen:
        continue
    seen.add(d)
    for name in sorted(os.listdir(d)):
        manifest = os.path.join(d, name, "__manifest__.py")
        if not os.path.isfile(manifest):
            continue
        with open(manifest, encoding="utf-8", errors="replace") as f:
            text = f.read()
        try:
            lic = str(ast.literal_eval(text).get("license", ""))
        except Exception:  # unparsable manifest: fall back to a textual look
            m = re.search(r"""["']license["']\s*:\s*["']([^"']*)""", text)
            lic = m.group(1) if m else ""
        if lic.strip().upper().startswith("OEEL"):
            bad.append(manifest)
print("checked: " + " ".join(sorted(seen)))
for b in bad:
    print("enterprise: " + b)
sys.exit(3 if bad else 0)
PY
) || rc=$?
    if [ "$rc" -eq 3 ]; then
        local -a msg=("ODOO ENTERPRISE (OEEL license) MODULES ON THE ADDONS PATH - refusing to run."
            "This project is tested against Odoo Community only. Offending manifests:")
        local l
        while IFS= read -r l; do
            case $l in "enterprise: "*) msg+=("   ${l#enterprise: }") ;; esac
        done <<<"$out"
        msg+=("Use an Odoo 19 Community installation (ODOO_BIN=/path/to/odoo).")
        icp_die "${msg[@]}"
    elif [ "$rc" -ne 0 ]; then
        icp_die "Could not inspect the addons path with $ODOO_PYTHON:" "$out"
    fi
    icp_log "no enterprise modules (${out#checked: })"
}

# ------------------------------------------------------------- PostgreSQL

# Runs "$@" as the postgres OS user (we must be root, or have password-less sudo).
_icp_as_postgres() {
    # cd / : the postgres user may not be allowed into our working directory.
    if [ "$(id -u)" -eq 0 ]; then
        if command -v runuser >/dev/null 2>&1; then
            (cd / && runuser -u postgres -- "$@")
        else
            (cd / && su -s /bin/sh postgres -c "$(printf '%q ' "$@")")
        fi
    elif command -v sudo >/dev/null 2>&1; then
        (cd / && sudo -n -u postgres -- "$@")
    else
        return 1
    fi
}

# Starts the local cluster if needed, waits until it accepts connections, and
# makes sure a SUPERUSER role named after the current OS user exists: Odoo
# refuses to run as db user "postgres" and connects over the local socket.
icp_ensure_postgres() {
    local user line ver name port status
    user=$(id -un)

    if command -v pg_lsclusters >/dev/null 2>&1; then
        line=$(pg_lsclusters --no-header 2>/dev/null | awk '$1 == "15" && $2 == "main"' | head -n 1)
        [ -n "$line" ] || line=$(pg_lsclusters --no-header 2>/dev/null | head -n 1)
        [ -n "$line" ] || icp_die "pg_lsclusters lists no PostgreSQL cluster." \
            "Create one, e.g.: pg_createcluster 15 main --start"
        read -r ver name port status _ <<<"$line"
        if [ "${status%%,*}" != "online" ]; then
            icp_log "starting PostgreSQL cluster $ver/$name (was: $status)"
            pg_ctlcluster "$ver" "$name" start ||
                icp_die "Could not start PostgreSQL cluster $ver/$name (pg_ctlcluster $ver $name start)." \
                    "See /var/log/postgresql/postgresql-$ver-$name.log"
        fi
        # libpq (psql, Odoo's psycopg2) reads PGPORT; only matters off 5432.
        export PGPORT=${PGPORT:-$port}
    fi

    local waited=0 limit=${ICP_PG_WAIT:-30}
    until pg_isready -q >/dev/null 2>&1; do
        if [ "$waited" -ge "$limit" ]; then
            icp_die "PostgreSQL is not accepting connections after ${limit}s (pg_isready)." \
                "Start it (Debian: pg_ctlcluster 15 main start) and retry."
        fi
        sleep 1
        waited=$((waited + 1))
    done

    if ! psql -X -q -d postgres -Atc 'SELECT 1' >/dev/null 2>&1 </dev/null; then
        # OS user names are plain words; refuse anything that would need SQL quoting.
        [[ $user =~ ^[A-Za-z0-9_][A-Za-z0-9_.-]*$ ]] ||
            icp_die "Unexpected OS user name '$user': create its PostgreSQL role by hand."
        icp_log "creating PostgreSQL SUPERUSER role '$user'"
        if ! _icp_as_postgres psql -X -q -d postgres -v ON_ERROR_STOP=1 \
            -c "DO \$\$BEGIN IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = '$user') THEN CREATE ROLE \"$user\" SUPERUSER LOGIN; END IF; END\$\$;" </dev/null; then
            icp_die "No PostgreSQL role for OS user '$user', and it could not be created." \
                "As a database superuser run: CREATE ROLE \"$user\" SUPERUSER LOGIN;" \
                "(Odoo refuses to run as the 'postgres' role.)"
        fi
        psql -X -q -d postgres -Atc 'SELECT 1' >/dev/null </dev/null ||
            icp_die "PostgreSQL role '$user' exists but connecting as it fails (check pg_hba.conf)."
    fi
    icp_log "PostgreSQL ready (role '$user'${PGPORT:+, port $PGPORT})"
}

# Drops database "$1" and its Odoo filestore, if present.
icp_drop_db() {
    local db=$1 fs
    # client_min_messages: no "does not exist, skipping" NOTICE on a fresh name.
    PGOPTIONS='-c client_min_messages=warning' dropdb --if-exists --force "$db" </dev/null ||
        icp_die "Could not drop database '$db'."
    if [ -n "${ODOO_PYTHON:-}" ]; then
        fs=$("$ODOO_PYTHON" -c 'import sys; from odoo.tools import config; print(config.filestore(sys.argv[1]))' \
            "$db" 2>/dev/null </dev/null) || fs=""
        # Only ever remove a path that is really <something>/filestore/<db>.
        if [ -n "$fs" ] && [ "$(basename "$fs")" = "$db" ] &&
            [ "$(basename "$(dirname "$fs")")" = "filestore" ] && [ -d "$fs" ]; then
            rm -rf -- "$fs"
        fi
    fi
}

# ------------------------------------------------------------ misc helpers

# Installs Debian packages non-interactively (root + apt-get only). Returns 1 if it can't.
icp_apt_install() {
    if [ "$(id -u)" -ne 0 ] || ! command -v apt-get >/dev/null 2>&1; then
        return 1
    fi
    icp_log "apt-get install $*"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -q </dev/null >&2 &&
        apt-get install -y -q --no-install-recommends "$@" </dev/null >&2
}

# Prints the first Chrome/Chromium on PATH (the names Odoo's HttpCase looks for).
icp_find_browser() {
    local b
    for b in google-chrome chromium chromium-browser google-chrome-stable; do
        command -v "$b" 2>/dev/null && return 0
    done
    return 1
}

# Makes sure a browser exists for HttpCase tours; installs Debian's chromium if root.
icp_ensure_chromium() {
    local b
    if b=$(icp_find_browser); then
        icp_log "browser for tours: $b"
        return 0
    fi
    icp_apt_install chromium || true
    if b=$(icp_find_browser); then
        icp_log "browser for tours: $b"
        return 0
    fi
    return 1
}

# Makes what the module and its tests import available to Odoo's python, without
# modifying the Odoo installation:
# - requirements-odoo.txt (the module's runtime `stripe`, and websocket-client for
#   HttpCase browser tests): pure-python, installed --no-deps into .odoo-test-deps/
#   and put on PYTHONPATH, only when Odoo's python lacks one of them;
# - requirements-localstripe.txt: the fake Stripe server the tests start in its own
#   process, in its own venv (.venv-localstripe/, aiohttp and all), unless Odoo's
#   python already has it; ICP_LOCALSTRIPE_PYTHON tells the tests which python.
icp_ensure_odoo_deps() {
    local req=$ICP_REPO/requirements-odoo.txt dir=$ICP_REPO/.odoo-test-deps
    local stamp=$dir/.requirements.sha256 want pip_py
    local probe='import websocket, stripe'
    if ! "$ODOO_PYTHON" -c "$probe" >/dev/null 2>&1 </dev/null; then
        want=$(sha256sum "$req" | cut -d' ' -f1)
        if [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
            pip_py=$ODOO_PYTHON
            "$pip_py" -m pip --version >/dev/null 2>&1 </dev/null || pip_py=python3
            icp_log "installing requirements-odoo.txt into $dir"
            rm -rf "$dir"
            "$pip_py" -m pip install -q --disable-pip-version-check --no-deps \
                --target "$dir" -r "$req" </dev/null || return 1
            echo "$want" >"$stamp"
        fi
        export PYTHONPATH="$dir${PYTHONPATH:+:$PYTHONPATH}"
        "$ODOO_PYTHON" -c "$probe" >/dev/null 2>&1 </dev/null || return 1
    fi
}

icp_ensure_localstripe() {
    local venv=$ICP_REPO/.venv-localstripe req=$ICP_REPO/requirements-localstripe.txt
    if "$ODOO_PYTHON" -c 'import localstripe' >/dev/null 2>&1 </dev/null; then
        export ICP_LOCALSTRIPE_PYTHON=$ODOO_PYTHON
        return 0
    fi
    if ! "$venv/bin/python" -c 'import localstripe' >/dev/null 2>&1 </dev/null; then
        icp_log "installing requirements-localstripe.txt into $venv"
        rm -rf "$venv"
        python3 -m venv "$venv" </dev/null || return 1
        "$venv/bin/pip" install -q --disable-pip-version-check -r "$req" </dev/null ||
            return 1
    fi
    export ICP_LOCALSTRIPE_PYTHON=$venv/bin/python
}

# Prints a free TCP port on 127.0.0.1.
icp_free_port() {
    "${ODOO_PYTHON:-python3}" -c 'import socket
s = socket.socket()
s.bind(("127.0.0.1", 0))
print(s.getsockname()[1])
s.close()'
}

# Prints the directory of module "$1" found on ICP_ADDONS_PATH, or returns 1.
icp_module_dir() {
    local d
    local -a dirs=()
    IFS=, read -r -a dirs <<<"$ICP_ADDONS_PATH"
    for d in "${dirs[@]}"; do
        if [ -f "$d/$1/__manifest__.py" ]; then
            (cd "$d/$1" && pwd)
            return 0
        fi
    done
    return 1
}
