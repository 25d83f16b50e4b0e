//! Passes what nginx-sys learned about the nginx tree (version, features, OS) to the compiler as
//! cfgs, so code can be gated on the nginx it is built against (`nginx1_25_1`, `ngx_feature=...`).

fn main() {
    println!("cargo::rerun-if-env-changed=DEP_NGINX_FEATURES_CHECK");
    println!(
        "cargo::rustc-check-cfg=cfg(ngx_feature, values({}))",
        std::env::var("DEP_NGINX_FEATURES_CHECK").unwrap_or_else(|_| "any()".to_string())
    );
    println!("cargo::rerun-if-env-changed=DEP_NGINX_FEATURES");
    if let Ok(features) = std::env::var("DEP_NGINX_FEATURES") {
        for feature in features.split(',').map(str::trim) {
            println!("cargo::rustc-cfg=ngx_feature=\"{feature}\"");
        }
    }

    println!("cargo::rerun-if-env-changed=DEP_NGINX_OS_CHECK");
    println!(
        "cargo::rustc-check-cfg=cfg(ngx_os, values({}))",
        std::env::var("DEP_NGINX_OS_CHECK").unwrap_or_else(|_| "any()".to_string())
    );
    println!("cargo::rerun-if-env-changed=DEP_NGINX_OS");
    if let Ok(os) = std::env::var("DEP_NGINX_OS") {
        println!("cargo::rustc-cfg=ngx_os=\"{os}\"");
    }

    // nginx versions whose API differences the module cares about.
    const VERSION_CHECKS: &[(u64, &str)] =
        &[(1_023_000, "nginx1_23_0"), (1_025_001, "nginx1_25_1")];
    for (_, name) in VERSION_CHECKS {
        println!("cargo::rustc-check-cfg=cfg({name})");
    }
    println!("cargo::rerun-if-env-changed=DEP_NGINX_VERSION_NUMBER");
    if let Some(version) = std::env::var("DEP_NGINX_VERSION_NUMBER")
        .ok()
        .and_then(|v| v.parse::<u64>().ok())
    {
        for (min, name) in VERSION_CHECKS {
            if version >= *min {
                println!("cargo::rustc-cfg={name}");
            }
        }
    }

    // What kind of nginx core the tree is: OpenResty patches nginx's core, which changes
    // structure layouts (see `compat`). Read from the headers the bindings are made from, not
    // from a version number.
    println!("cargo::rustc-check-cfg=cfg(ngx_openresty)");
    println!("cargo::rustc-check-cfg=cfg(ngx_upstream_timeout_fields)");
    println!("cargo::rerun-if-env-changed=DEP_NGINX_INCLUDE");
    let includes = std::env::var_os("DEP_NGINX_INCLUDE").unwrap_or_default();
    let header_has = |name: &str, needle: &str| {
        std::env::split_paths(&includes).any(|dir| {
            std::fs::read_to_string(dir.join(name)).is_ok_and(|text| text.contains(needle))
        })
    };
    // OpenResty's core declares the privileged agent process; vanilla nginx has none.
    if header_has("ngx_process_cycle.h", "ngx_is_privileged_agent") {
        println!("cargo::rustc-cfg=ngx_openresty");
    }
    // Tengine's nginx.h has its own version next to nginx's: "Tengine/3.1.0" for messages.
    println!("cargo::rustc-check-cfg=cfg(ngx_tengine)");
    let tengine = std::env::split_paths(&includes).find_map(|dir| {
        let text = std::fs::read_to_string(dir.join("nginx.h")).ok()?;
        let line = text
            .lines()
            .find(|l| l.starts_with("#define TENGINE_VERSION"))?;
        Some(line.split('"').nth(1).unwrap_or("?").to_string())
    });
    if let Some(version) = tengine {
        println!("cargo::rustc-cfg=ngx_tengine");
        println!("cargo::rustc-env=SSE_AUTO_TENGINE_VER=Tengine/{version}");
    }
    // OpenResty's upstream_timeout_fields patch: per-request connect/send/read timeouts in
    // ngx_http_upstream_t, which the non-buffered path re-arms its read timer from.
    if header_has("ngx_http_upstream.h", "HAVE_NGX_UPSTREAM_TIMEOUT_FIELDS") {
        println!("cargo::rustc-cfg=ngx_upstream_timeout_fields");
    }

    // Where the nginx tree lives, for `make paths` (the vendored build puts the binary there).
    println!("cargo::rerun-if-env-changed=DEP_NGINX_BUILD_DIR");
    if let Ok(dir) = std::env::var("DEP_NGINX_BUILD_DIR") {
        println!("cargo::rustc-env=SSE_AUTO_NGINX_BUILD_DIR={dir}");
    }
}
