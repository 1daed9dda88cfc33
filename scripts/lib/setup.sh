# Shared set-up for scripts/: install missing Debian packages and cargo tools.
# Sourced, not run.

# ensure_packages PKG...: apt-get installs the packages that are missing.
ensure_packages() {
    local missing=()
    for p in "$@"; do
        dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
    done
    if [ ${#missing[@]} -gt 0 ]; then
        echo "installing: ${missing[*]}" >&2
        if [ "$(id -u)" -ne 0 ]; then
            echo "need root to install ${missing[*]}" >&2
            return 1
        fi
        apt-get update -qq
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
    fi
}

ensure_nextest() {
    cargo nextest --version >/dev/null 2>&1 || cargo install --locked cargo-nextest
}

# build_berth: a release build of the berth binary; prints its path.
build_berth() {
    cargo build --release -p berth >&2
    echo "$PWD/target/release/berth"
}
