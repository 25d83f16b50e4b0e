//! The parts of sse_auto that do not touch nginx (the stream decision, media-type matching, event
//! boundaries, the timeout rule, the stream metrics): unit-tested, fuzzed and benchmarked on
//! their own. Everything here is allocation-free on the request path (the metrics' rendering
//! serves only the status location).

pub mod boundary;
pub mod decision;
#[doc(hidden)]
pub mod differential;
pub mod media_type;
pub mod metrics;
#[doc(hidden)]
pub mod reference;
pub mod timeout;
