//! Which nginx core a module build fits, as a pure decision (no nginx here, so it is tested on
//! its own: `tests/compat.rs`).
//!
//! OpenResty patches nginx's core: `struct ngx_http_upstream_s` has fields of its own ahead of
//! the ones sse_auto uses, and nginx's `load_module` checks only the version number and the
//! module signature, which are the same for a vanilla tree and OpenResty's tree of one nginx
//! version. A module built against the other kind loads and then reads the wrong fields, so it
//! is refused at configuration time instead.

/// The kind of nginx core: what a build was made against, or what it runs in.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Core {
    /// nginx's own sources (nginx.org, distributions, nginx-src)
    Vanilla,
    /// OpenResty's patched nginx core (OpenResty, 1Panel, Nginx Proxy Manager)
    OpenResty,
}

/// The README section that says how to build for each of them.
pub const README_SECTION: &str = "OpenResty, 1Panel, Nginx Proxy Manager";

/// What the module was built against: the tree's core kind, `NGINX_VERSION` ("1.27.1") and
/// `NGINX_VER` ("nginx/1.27.1", or "openresty/1.27.1.2").
#[derive(Clone, Copy, Debug)]
pub struct Build<'a> {
    pub core: Core,
    pub version: &'a str,
    pub ver: &'a str,
}

impl Build<'_> {
    fn describe(&self) -> String {
        match self.core {
            Core::Vanilla => format!("vanilla nginx {}", self.version),
            Core::OpenResty if self.ver.starts_with("openresty/") => {
                format!("OpenResty's patched nginx {} ({})", self.version, self.ver)
            }
            Core::OpenResty => format!("OpenResty's patched nginx {}", self.version),
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
    let (loaded_into, rebuild) = match running {
        Core::OpenResty => (
            format!("OpenResty's patched nginx {}", build.version),
            "rebuild it against the source bundle of the OpenResty you run (openresty -V)",
        ),
        Core::Vanilla => (
            format!("an nginx {} without OpenResty's patches", build.version),
            "rebuild it against the source of the nginx you run (nginx -V)",
        ),
    };
    Err(format!(
        "sse_auto: this module was built against {} but is loaded into {}; their structures \
         differ, so it cannot work: {}, see \"{}\" in the README",
        build.describe(),
        loaded_into,
        rebuild,
        README_SECTION
    ))
}
