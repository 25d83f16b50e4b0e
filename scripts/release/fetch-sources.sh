#!/usr/bin/env bash
# Fetches the sources the release builds against from their public origins, each checked
# against its pin in a lock file, into one folder (release.sh's SSE_SOURCES):
#
#   nginx.git                 every nginx release by tag (release-<version>), from nginx's
#                             repository; each tag's tree must have the lock's tree hash (the
#                             content itself), and its commit the lock's commit when fetched
#                             from the lock's own origin (release.sh: SSE_NGINX_BUNDLE=)
#   openresty-<v>.tar.gz      OpenResty's source bundles, by URL; sha256 as the lock says
#
# Debian's nginx-dev trees come through apt (release.sh fetches them itself); the nginx-src
# crate through cargo.
#
# Usage: scripts/release/fetch-sources.sh <folder>
#   SSE_FETCH_LOCK=       the lock (default scripts/release/sources.lock)
#   SSE_FETCH_NGINX=      another origin of nginx's tags: a git URL, a clone, or a git bundle
#   SSE_FETCH_OPENRESTY=  another base URL of the OpenResty bundles (file:///..., https://...)
#   SSE_FETCH_ONLY=       only these entries ("nginx-1.26.2 openresty-1.27.1.2"; default all)
#   SSE_FETCH_UNPINNED=allow   fetch entries the lock has no sha256 for (each is printed with
#                         the sha256 it had, to be pinned); without it they stop the fetch
# A file already in the folder is checked again, not fetched again. Exits non-zero, with one
# line naming the file, the pin and what was found, on any mismatch; nothing unchecked stays.
set -euo pipefail

repo=$(cd "$(dirname "$0")/../.." && pwd)
out=${1:?usage: fetch-sources.sh <folder>}
lock=${SSE_FETCH_LOCK:-$repo/scripts/release/sources.lock}
[ -f "$lock" ] || { echo "fetch-sources: no lock $lock"; exit 2; }
mkdir -p "$out"
out=$(cd "$out" && pwd)

origin() { awk -v k="$1" '$1 == "origin" && $2 == k { print $3 }' "$lock"; }
nginx_origin=${SSE_FETCH_NGINX:-$(origin nginx)}
openresty_origin=${SSE_FETCH_OPENRESTY:-$(origin openresty)}
for o in "$nginx_origin" "$openresty_origin"; do
    case $o in '' | -) echo "fetch-sources: $lock names no origin: set SSE_FETCH_NGINX= and SSE_FETCH_OPENRESTY="; exit 2 ;; esac
done
only=" ${SSE_FETCH_ONLY:-} "
wanted() { [ "$only" = "  " ] || case $only in *" $1 "*) return 0 ;; *) return 1 ;; esac; }

fail=0
bad() { echo "fetch-sources: $*"; fail=1; }

fetch_url() { # url file
    case $1 in
    file://*) cp "${1#file://}" "$2" ;;
    *) curl -fsSL --retry 3 -o "$2" "$1" ;;
    esac
}

# --- nginx: tags of nginx's repository, checked by tree (and commit at the lock's origin) ---
git=$out/nginx.git
tags=()
while read -r kind ver tag commit tree; do
    [ "$kind" = nginx ] || continue
    wanted "nginx-$ver" || continue
    tags+=("$ver $tag $commit $tree")
done < <(grep -v '^#' "$lock")
if [ ${#tags[@]} -gt 0 ]; then
    [ -d "$git" ] || git init -q --bare "$git"
    refspecs=()
    for t in "${tags[@]}"; do
        read -r _ tag _ _ <<<"$t"
        git -C "$git" rev-parse -q --verify "refs/tags/$tag" >/dev/null || refspecs+=("+refs/tags/$tag:refs/tags/$tag")
    done
    if [ ${#refspecs[@]} -gt 0 ]; then
        echo "fetch-sources: ${#refspecs[@]} nginx tags from $nginx_origin"
        depth=(--depth 1)
        case $nginx_origin in *.bundle) depth=() ;; esac   # a bundle has what it has
        git -C "$git" fetch -q --no-tags "${depth[@]}" "$nginx_origin" "${refspecs[@]}" \
            || bad "nginx: fetching tags from $nginx_origin failed"
    fi
    at_origin=0
    [ "$nginx_origin" = "$(origin nginx)" ] && at_origin=1
    for t in "${tags[@]}"; do
        read -r ver tag commit tree <<<"$t"
        have=$(git -C "$git" rev-parse -q --verify "$tag^{tree}" 2>/dev/null) \
            || { bad "nginx $ver: no tag $tag at $nginx_origin"; continue; }
        if [ "$have" != "${tree#tree=}" ]; then
            bad "nginx $ver: tag $tag has tree $have, the lock pins ${tree#tree=}: not nginx's $tag (removed)"
            git -C "$git" tag -d "$tag" >/dev/null
            continue
        fi
        if [ $at_origin -eq 1 ] && [ "$(git -C "$git" rev-parse "$tag^{commit}")" != "${commit#commit=}" ]; then
            bad "nginx $ver: tag $tag is commit $(git -C "$git" rev-parse "$tag^{commit}"), the lock pins ${commit#commit=} (removed)"
            git -C "$git" tag -d "$tag" >/dev/null
        fi
    done
fi

# --- OpenResty: tarballs by URL, checked by sha256 ---
while read -r kind ver file sum; do
    [ "$kind" = openresty ] || continue
    wanted "openresty-$ver" || continue
    sum=${sum#sha256=}
    if [ ! -f "$out/$file" ]; then
        echo "fetch-sources: ${openresty_origin%/}/$file"
        fetch_url "${openresty_origin%/}/$file" "$out/$file.part" \
            || { rm -f "$out/$file.part"; bad "openresty $ver: cannot fetch ${openresty_origin%/}/$file"; continue; }
        mv "$out/$file.part" "$out/$file"
    fi
    have=$(sha256sum "$out/$file" | cut -d' ' -f1)
    if [ "$sum" = unpinned ]; then
        if [ "${SSE_FETCH_UNPINNED:-}" = allow ]; then
            echo "fetch-sources: $file is not pinned in $lock: fetched with sha256 $have (pin it there)"
        else
            rm -f "$out/$file"
            bad "$file is not pinned in $lock (it had sha256 $have; SSE_FETCH_UNPINNED=allow fetches it anyway; removed)"
        fi
    elif [ "$have" != "$sum" ]; then
        rm -f "$out/$file"
        bad "$file: sha256 $have, the lock pins $sum (removed)"
    fi
done < <(grep -v '^#' "$lock")

[ $fail -eq 0 ] || { echo "fetch-sources: FAILED (lock $lock)"; exit 1; }
echo "fetch-sources: all checked against $lock, in $out"
