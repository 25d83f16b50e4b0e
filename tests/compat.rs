//! The build/runtime core decision of `src/compat/rules.rs`, which needs no nginx.

extern crate alloc;

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

const TENGINE: Build<'static> = Build {
    core: Core::Tengine,
    version: "1.24.0",
    ver: "Tengine/3.1.0",
};

fn build_of(core: Core) -> Build<'static> {
    match core {
        Core::Vanilla => VANILLA,
        Core::OpenResty => OPENRESTY,
        Core::Tengine => TENGINE,
    }
}

#[test]
fn same_kind_runs() {
    for core in Core::ALL {
        assert_eq!(check(&build_of(core), Some(core)), Ok(()), "{core:?}");
    }
}

#[test]
fn unknown_core_runs() {
    for core in Core::ALL {
        assert_eq!(check(&build_of(core), None), Ok(()), "{core:?}");
    }
}

/// Every pair of different kinds, both directions, is refused with one short line that names
/// what it was built for, what it runs in, how to rebuild and where docs/BUILDING.md says more.
#[test]
fn every_other_kind_is_refused() {
    for built in Core::ALL {
        for running in Core::ALL {
            if built == running {
                continue;
            }
            let build = build_of(built);
            let err = check(&build, Some(running)).unwrap_err();
            assert!(
                err.starts_with("sse_auto: this module was built against "),
                "{err}"
            );
            assert!(!err.contains('\n'), "{err}");
            // nginx's configuration error buffer (NGX_MAX_CONF_ERRSTR) is 1024 bytes
            assert!(err.len() < 512, "{err}");
            assert!(err.contains(" rebuild it against the source"), "{err}");
            let section = if running == Core::Vanilla {
                built
            } else {
                running
            }
            .docs_section();
            assert!(
                err.ends_with(&format!("see \"{section}\" in docs/BUILDING.md")),
                "{err}"
            );
            match running {
                Core::Vanilla => assert!(err.contains("without"), "{err}"),
                Core::OpenResty => assert!(err.contains("loaded into OpenResty's"), "{err}"),
                Core::Tengine => assert!(err.contains("loaded into Tengine's"), "{err}"),
            }
        }
    }
}

#[test]
fn vanilla_build_in_openresty_is_refused() {
    assert_eq!(
        check(&VANILLA, Some(Core::OpenResty)),
        Err(
            "sse_auto: this module was built against vanilla nginx 1.27.1 but is loaded into \
             OpenResty's patched nginx 1.27.1; their structures differ, so it cannot work: \
             rebuild it against the source bundle of the OpenResty you run (openresty -V), see \
             \"OpenResty, 1Panel, Nginx Proxy Manager\" in docs/BUILDING.md"
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
             Manager\" in docs/BUILDING.md"
                .to_string()
        )
    );
}

#[test]
fn vanilla_build_in_tengine_is_refused() {
    let vanilla = Build {
        version: "1.24.0",
        ver: "nginx/1.24.0",
        ..VANILLA
    };
    assert_eq!(
        check(&vanilla, Some(Core::Tengine)),
        Err(
            "sse_auto: this module was built against vanilla nginx 1.24.0 but is loaded into \
             Tengine's patched nginx 1.24.0; their structures differ, so it cannot work: \
             rebuild it against the source of the Tengine you run (nginx -V prints its version \
             and arguments), see \"Forks\" in docs/BUILDING.md"
                .to_string()
        )
    );
}

#[test]
fn tengine_build_in_vanilla_is_refused() {
    assert_eq!(
        check(&TENGINE, Some(Core::Vanilla)),
        Err(
            "sse_auto: this module was built against Tengine's patched nginx 1.24.0 \
             (Tengine/3.1.0) but is loaded into an nginx 1.24.0 without Tengine's patches; \
             their structures differ, so it cannot work: rebuild it against the source of the \
             nginx you run (nginx -V), see \"Forks\" in docs/BUILDING.md"
                .to_string()
        )
    );
}

#[test]
fn tengine_build_in_openresty_names_both() {
    let err = check(&TENGINE, Some(Core::OpenResty)).unwrap_err();
    assert!(err.contains("built against Tengine's patched nginx 1.24.0 (Tengine/3.1.0)"));
    assert!(err.contains("loaded into OpenResty's patched nginx 1.24.0"));
}

#[test]
fn build_without_its_version_string() {
    let build = Build {
        ver: "nginx/1.27.1",
        ..OPENRESTY
    };
    let err = check(&build, Some(Core::Vanilla)).unwrap_err();
    assert!(err.contains("built against OpenResty's patched nginx 1.27.1 but"));
    let build = Build {
        ver: "Tengine",
        ..TENGINE
    };
    let err = check(&build, Some(Core::Vanilla)).unwrap_err();
    assert!(
        err.contains("built against Tengine's patched nginx 1.24.0 but"),
        "{err}"
    );
}

#[test]
fn every_section_named_is_in_building_md() {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/docs/BUILDING.md");
    let doc = std::fs::read_to_string(path).unwrap_or_default();
    for core in [Core::Vanilla, Core::OpenResty, Core::Tengine] {
        let section = core.docs_section();
        assert!(
            doc.lines().any(|l| l.starts_with(&format!("## {section}"))),
            "docs/BUILDING.md has no section \"{section}\""
        );
    }
}
