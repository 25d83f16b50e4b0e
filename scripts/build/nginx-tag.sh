#!/bin/sh
# nginx's tree of one release tag (release-<version>) into a folder, from nginx's repository:
# the release-trees bundle, a clone, or what fetch-sources.sh fetched (one bare clone of it is
# kept in target/nginx-releases/git, shared by every script). The folder is replaced unless it
# already holds that tag (its .tag file says so). Configure is auto/configure in this layout.
#
# Usage: scripts/build/nginx-tag.sh <version> <folder>
#   SSE_NGINX_BUNDLE=  the repository (default ../shared/sources/nginx-release-trees.bundle)
set -eu
repo=$(cd "$(dirname "$0")/../.." && pwd)
ver=${1:?usage: nginx-tag.sh <version> <folder>}
dest=${2:?usage: nginx-tag.sh <version> <folder>}
bundle=${SSE_NGINX_BUNDLE:-$repo/../shared/sources/nginx-release-trees.bundle}
git=$repo/target/nginx-releases/git
tag=release-$ver

[ "$(cat "$dest/.tag" 2>/dev/null)" = "$tag" ] && exit 0
if ! git -C "$git" rev-parse -q --verify "refs/tags/$tag" >/dev/null 2>&1; then
    [ -e "$bundle" ] || { echo "nginx-tag: no $bundle (SSE_NGINX_BUNDLE=)" >&2; exit 1; }
    if [ -d "$git" ]; then
        git -C "$git" fetch -q --tags "$bundle"
    else
        mkdir -p "$(dirname "$git")" && git clone -q --bare "$bundle" "$git"
    fi
    git -C "$git" rev-parse -q --verify "refs/tags/$tag" >/dev/null \
        || { echo "nginx-tag: $bundle has no tag $tag" >&2; exit 1; }
fi
rm -rf "$dest" && mkdir -p "$dest"
git -C "$git" archive --format=tar "$tag" | tar -xf - -C "$dest"
echo "$tag" >"$dest/.tag"
