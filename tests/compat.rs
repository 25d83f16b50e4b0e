//! The build/runtime core decision of `src/compat/rules.rs`, which needs no nginx.

#[path = "../src/compat/rules.rs"]
#[allow(dead_code)]
mod rules;

use rules::{check, Build, Core};

const VANILLA: Build<'static> = Build {
    core: Core::Vanilla,
    version: "1.27.1",
    ver: "nginx/1.27.1",
};

const OPENRESTY: Build<'static> = Build {
    core: Core::OpenResty,
    version: "1.27.1",
    ver: "openresty/1.27.1.2",
};

#[test]
fn same_kind_runs() {
    assert_eq!(check(&VANILLA, Some(Core::Vanilla)), Ok(()));
    assert_eq!(check(&OPENRESTY, Some(Core::OpenResty)), Ok(()));
}

#[test]
fn unknown_core_runs() {
    assert_eq!(check(&VANILLA, None), Ok(()));
    assert_eq!(check(&OPENRESTY, None), Ok(()));
}

#[test]
fn vanilla_build_in_openresty_is_refused() {
    assert_eq!(
        check(&VANILLA, Some(Core::OpenResty)),
        Err(
            "sse_auto: this module was built against vanilla nginx 1.27.1 but is loaded into \
             OpenResty's patched nginx 1.27.1; their structures differ, so it cannot work: \
             rebuild it against the source bundle of the OpenResty you run (openresty -V), see \
             \"OpenResty, 1Panel, Nginx Proxy Manager\" in the README"
                .to_string()
        )
    );
}

#[test]
fn openresty_build_in_vanilla_is_refused() {
    assert_eq!(
        check(&OPENRESTY, Some(Core::Vanilla)),
        Err(
            "sse_auto: this module was built against OpenResty's patched nginx 1.27.1 \
             (openresty/1.27.1.2) but is loaded into an nginx 1.27.1 without OpenResty's \
             patches; their structures differ, so it cannot work: rebuild it against the \
             source of the nginx you run (nginx -V), see \"OpenResty, 1Panel, Nginx Proxy \
             Manager\" in the README"
                .to_string()
        )
    );
}

#[test]
fn openresty_build_without_its_version_string() {
    let build = Build {
        ver: "nginx/1.27.1",
        ..OPENRESTY
    };
    let err = check(&build, Some(Core::Vanilla)).unwrap_err();
    assert!(err.contains("built against OpenResty's patched nginx 1.27.1 but"));
}

#[test]
fn one_line() {
    for (build, running) in [(VANILLA, Core::OpenResty), (OPENRESTY, Core::Vanilla)] {
        let err = check(&build, Some(running)).unwrap_err();
        assert!(!err.contains('\n'));
        // nginx's configuration error buffer (NGX_MAX_CONF_ERRSTR) is 1024 bytes
        assert!(err.len() < 512);
    }
}
