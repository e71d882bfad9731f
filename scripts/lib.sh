# Shared by the scripts: install what is missing, quietly when it is already there.

apt_updated=
apt_install() {
  local missing=()
  for pkg in "$@"; do
    dpkg -s "$pkg" >/dev/null 2>&1 || missing+=("$pkg")
  done
  ((${#missing[@]})) || return 0
  echo "Installing ${missing[*]} ..."
  local sudo=
  [[ $(id -u) -eq 0 ]] || sudo=sudo
  if [[ -z $apt_updated ]]; then
    $sudo apt-get update -qq
    apt_updated=1
  fi
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "${missing[@]}" >/dev/null
}

ensure_rust() {
  if ! command -v cargo >/dev/null; then
    echo "cargo not found: install Rust (rustup) first" >&2
    exit 1
  fi
  command -v cc >/dev/null || apt_install gcc
}

# PostgreSQL on 127.0.0.1:5432 for the test suite. Machines that already run one (trust auth)
# are left alone; elsewhere Debian's package is installed, started, and given the password
# the tests use.
ensure_postgres() {
  if pg_isready -q -h 127.0.0.1 -p 5432 2>/dev/null; then
    return 0
  fi
  apt_install postgresql postgresql-client
  local version
  version=$(ls /etc/postgresql | sort -V | tail -1)
  pg_ctlcluster --skip-systemctl-redirect "$version" main start 2>/dev/null ||
    pg_ctlcluster "$version" main start
  for _ in $(seq 1 50); do
    pg_isready -q -h 127.0.0.1 -p 5432 && break
    sleep 0.2
  done
  su postgres -c "psql -q -c \"ALTER USER postgres PASSWORD 'postgres'\"" >/dev/null
}

# Runs "$@" as one announced step: what it does (and how long it took on a fresh machine)
# before it starts, how long it took after. A newcomer watching a cold build then knows what
# the machine is doing and roughly for how long.
step() {
  local what=$1 expect=$2
  shift 2
  echo "==> $what${expect:+ ($expect)}" >&2
  local started=$SECONDS
  "$@"
  local took=$((SECONDS - started))
  echo "    done in $((took / 60)) min $((took % 60)) s" >&2
}

# cargo's own progress bar on a terminal; quiet in logs and CI.
cargo_progress() {
  if [[ -t 2 ]]; then echo ""; else echo "--quiet"; fi
}
