# Sourced by the install-*.sh scripts that take a tool from Debian's packages without installing
# anything into the system: the packages are fetched with `apt-get download` and unpacked into a
# folder of .tools, which only replaces the old one once it holds what it must.

# unpack_debs ROOT PACKAGE...: a fresh ROOT.partial holding the packages' files.
unpack_debs() (
  root=$1
  shift
  work=$(mktemp -d)
  trap 'rm -rf "$work"' EXIT
  chmod 0777 "$work" # apt-get download drops root for the download
  (cd "$work" && apt-get download "$@" >&2)
  rm -rf "$root.partial" && mkdir -p "$root.partial"
  for deb in "$work"/*.deb; do dpkg-deb -x "$deb" "$root.partial"; done
)

# commit_debs NAME ROOT PATH...: ROOT.partial becomes ROOT once every PATH (relative) in it is an
# executable; else NAME says which is missing and the script exits.
commit_debs() {
  local name=$1 root=$2 path
  shift 2
  for path in "$@"; do
    [ -x "$root.partial/$path" ] || { echo "$name: the packages did not hold $path" >&2; exit 1; }
  done
  rm -rf "$root" && mv "$root.partial" "$root"
}
