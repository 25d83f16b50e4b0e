//! The parts of sse_auto that do not touch nginx (the stream decision, media-type matching, event
//! boundaries, the timeout rule, the stream metrics): unit-tested, fuzzed and benchmarked on
//! their own. Everything here is allocation-free on the request path (the metrics' rendering
//! serves only the status location).
//!
//! `no_std` (with `alloc`): the module built on it needs nothing from Rust's standard library at
//! run time, so one file loads into glibc- and musl-linked nginx alike.

#![cfg_attr(not(test), no_std)]

extern crate alloc;

pub mod boundary;
pub mod decision;
#[doc(hidden)]
pub mod differential;
pub mod media_type;
pub mod metrics;
#[doc(hidden)]
pub mod reference;
pub mod timeout;
