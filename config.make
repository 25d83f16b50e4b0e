# Makefile rules for the Rust part of the sse_auto module (see "config").
#
# make cannot see the Rust sources and their dependencies, so cargo is run every time and
# decides itself whether anything needs rebuilding.

case "$NGX_OBJS" in
    /*) sse_auto_objs=$NGX_OBJS ;;
    *)  sse_auto_objs="\$\$PWD/$NGX_OBJS" ;;
esac

case "$ngx_addon_dir" in
    /*) sse_auto_dir=$ngx_addon_dir ;;
    *)  sse_auto_dir="\$\$PWD/$ngx_addon_dir" ;;
esac

# a cross build names its Rust target (NGX_RUST_TARGET, see "config"); the offline source
# release (make dist) carries its crates in vendor/ and the cargo configuration that uses them;
# cargo runs from nginx's tree, so it is named explicitly
sse_auto_cargo_config=
if [ -n "$SSE_AUTO_RUST_TARGET" ]; then
    sse_auto_cargo_config=" \\
		--target \"$SSE_AUTO_RUST_TARGET\""
fi
if [ -d "$ngx_addon_dir/vendor" ] && [ -f "$ngx_addon_dir/.cargo/config.toml" ]; then
    sse_auto_cargo_config="$sse_auto_cargo_config \\
		--config \"$sse_auto_dir/.cargo/config.toml\""
fi

cat << END                                                    >> $NGX_MAKEFILE

$SSE_AUTO_LIB: .SSE_AUTO_CARGO
	NGINX_SOURCE_DIR="\$\$PWD" NGINX_BUILD_DIR="$sse_auto_objs" \\
	$SSE_AUTO_CARGO rustc --release --lib --crate-type staticlib \\
		--no-default-features \\
		--manifest-path "$sse_auto_dir/Cargo.toml" \\
		--target-dir "$SSE_AUTO_TARGET_DIR"$sse_auto_cargo_config

.SSE_AUTO_CARGO: ;

END

# the dynamic module's link rule comes from nginx's build; it only needs the library first.
# SSE_AUTO_LINKER (scripts/build/zig.sh prints the project's): another linker for this one file,
# e.g. one linking against an older glibc than the build host's, so the .so loads there too.
case " $DYNAMIC_MODULES " in
    *" ngx_http_sse_auto_module "*)
    cat << END                                                >> $NGX_MAKEFILE
$NGX_OBJS${ngx_dirsep}ngx_http_sse_auto_module$ngx_modext: $SSE_AUTO_LIB

END
    if [ -n "${SSE_AUTO_LINKER:-}" ]; then
        cat << END                                            >> $NGX_MAKEFILE
$NGX_OBJS${ngx_dirsep}ngx_http_sse_auto_module$ngx_modext: LINK = $SSE_AUTO_LINKER

END
        # a changed linker script links the module again
        if [ -f "$SSE_AUTO_LINKER" ]; then
            cat << END                                        >> $NGX_MAKEFILE
$NGX_OBJS${ngx_dirsep}ngx_http_sse_auto_module$ngx_modext: $SSE_AUTO_LINKER

END
        fi
    fi
    ;;
esac
