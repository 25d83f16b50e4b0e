# Sourced by the benchmark scripts (bench.sh, heap-breakdown.sh), after they define $repo and
# die(): render() for their configuration templates; nginx_bin and module from NGINX and
# MODULE, or from `scripts/build/paths.sh` (`make paths`) for whichever is not given, both checked.

# render TEMPLATE OUT KEY=VALUE...
render() {
    local tpl=$1 dst=$2 kv k v text
    text=$(cat "$tpl")
    shift 2
    for kv in "$@"; do
        k=${kv%%=*}
        v=${kv#*=}
        text=${text//@$k@/$v}
    done
    printf '%s\n' "$text" >"$dst"
}

if [ -z "${NGINX:-}" ] || [ -z "${MODULE:-}" ]; then
    paths=$(cd "$repo" && ./scripts/build/paths.sh) || die "make paths failed; run make build first"
    [ -n "${NGINX:-}" ] || NGINX=$(printf '%s\n' "$paths" | sed -n 's/^nginx=//p')
    [ -n "${MODULE:-}" ] || MODULE=$(printf '%s\n' "$paths" | sed -n 's/^module=//p')
fi
# nginx reads $NGINX itself (inherited listening sockets): keep it out of its environment.
nginx_bin=$NGINX
module=$MODULE
unset NGINX MODULE
[ -x "$nginx_bin" ] || die "no nginx at $nginx_bin"
[ -f "$module" ] || die "no module at $module"
