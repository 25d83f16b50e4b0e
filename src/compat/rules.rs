//! Which nginx core a module build fits, as a pure decision (no nginx here, so it is tested on
//! its own: `tests/compat.rs`).
//!
//! OpenResty and Tengine patch nginx's core: OpenResty's `struct ngx_http_upstream_s` has
//! fields of its own ahead of the ones sse_auto uses, Tengine's request and upstream structures
//! too. nginx's `load_module` checks only the version number and the module signature, which
//! are the same for a vanilla tree and a fork's tree of one nginx version. A module built
//! against another kind loads and then reads the wrong fields, so it is refused at
//! configuration time instead.

use alloc::format;
use alloc::string::String;

/// The kind of nginx core: what a build was made against, or what it runs in.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Core {
    /// nginx's own sources (nginx.org, distributions, nginx-src)
    Vanilla,
    /// OpenResty's patched nginx core (OpenResty, 1Panel, Nginx Proxy Manager)
    OpenResty,
    /// Tengine's patched nginx core (Alibaba's fork; BT/aaPanel offer it)
    Tengine,
}

impl Core {
    /// Every kind, for exhaustive tests.
    pub const ALL: [Core; 3] = [Core::Vanilla, Core::OpenResty, Core::Tengine];

    /// The name of the fork, for a core that is one.
    fn fork(self) -> Option<&'static str> {
        match self {
            Core::Vanilla => None,
            Core::OpenResty => Some("OpenResty"),
            Core::Tengine => Some("Tengine"),
        }
    }

    /// The `flavour` the metrics name it by.
    pub fn flavour(self) -> &'static str {
        match self {
            Core::Vanilla => "nginx",
            Core::OpenResty => "openresty",
            Core::Tengine => "tengine",
        }
    }

    /// The section of docs/BUILDING.md that says how to build for this kind of core.
    pub fn docs_section(self) -> &'static str {
        match self {
            Core::Vanilla => "Build for the nginx you run",
            Core::OpenResty => "OpenResty, 1Panel, Nginx Proxy Manager",
            Core::Tengine => "Forks",
        }
    }

    /// How to rebuild a module for a core of this kind.
    fn rebuild(self) -> &'static str {
        match self {
            Core::Vanilla => "rebuild it against the source of the nginx you run (nginx -V)",
            Core::OpenResty => {
                "rebuild it against the source bundle of the OpenResty you run (openresty -V)"
            }
            Core::Tengine => {
                "rebuild it against the source of the Tengine you run (nginx -V prints its \
                 version and arguments)"
            }
        }
    }
}

/// What the module was built against: the tree's core kind, `NGINX_VERSION` ("1.27.1") and
/// the core's own version line: `NGINX_VER` ("nginx/1.27.1", or "openresty/1.27.1.2") or,
/// for Tengine, `TENGINE_VER` ("Tengine/3.1.0").
#[derive(Clone, Copy, Debug)]
pub struct Build<'a> {
    pub core: Core,
    pub version: &'a str,
    pub ver: &'a str,
}

impl Build<'_> {
    fn describe(&self) -> String {
        match self.core.fork() {
            None => format!("vanilla nginx {}", self.version),
            Some(fork)
                if self
                    .ver
                    .to_ascii_lowercase()
                    .starts_with(&format!("{}/", fork.to_ascii_lowercase())) =>
            {
                format!("{fork}'s patched nginx {} ({})", self.version, self.ver)
            }
            Some(fork) => format!("{fork}'s patched nginx {}", self.version),
        }
    }
}

/// Whether a module built as `build` may run in a core of kind `running`. `None`: the running
/// core cannot be told (its symbols are not visible, as in an nginx that links the module in
/// statically, which is then built from the same tree by definition), so the module runs.
///
/// The running nginx's version is the build's: nginx refuses a module of another version
/// before any of the module's code runs.
pub fn check(build: &Build<'_>, running: Option<Core>) -> Result<(), String> {
    let Some(running) = running else {
        return Ok(());
    };
    if running == build.core {
        return Ok(());
    }
    let loaded_into = match running.fork() {
        Some(fork) => format!("{fork}'s patched nginx {}", build.version),
        None => format!(
            "an nginx {} without {}'s patches",
            build.version,
            build.core.fork().unwrap_or("a fork")
        ),
    };
    // the section of the fork involved: the running one's, else the build's
    let section = if running == Core::Vanilla {
        build.core.docs_section()
    } else {
        running.docs_section()
    };
    Err(format!(
        "sse_auto: this module was built against {} but is loaded into {}; their structures \
         differ, so it cannot work: {}, see \"{}\" in docs/BUILDING.md",
        build.describe(),
        loaded_into,
        running.rebuild(),
        section
    ))
}
