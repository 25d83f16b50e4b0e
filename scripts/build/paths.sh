#!/bin/sh
# Builds the module (release) and prints the absolute paths of the nginx binary the tests use and
# of the module, as `nginx=...` and `module=...`. NGINX=... overrides the binary.
set -eu
cd "$(dirname "$0")/../.."
json=$(./scripts/build/cargo-module.sh --message-format=json 2>/dev/null)
out=$(printf '%s\n' "$json" | grep '"reason":"build-script-executed"' | grep '#nginx-sys@' \
      | sed -n 's/.*"out_dir":"\([^"]*\)".*/\1/p' | tail -n 1)
module=$(printf '%s\n' "$json" | grep '"reason":"compiler-artifact"' \
      | grep -o '"[^"]*libngx_http_sse_auto_module\.so"' | tr -d '"' | tail -n 1)
nginx=${NGINX:-$out/objs/nginx}
[ -x "$nginx" ] || { echo "no nginx binary at $nginx" >&2; exit 1; }
[ -f "$module" ] || { echo "module not built" >&2; exit 1; }
echo "nginx=$nginx"
echo "module=$module"
