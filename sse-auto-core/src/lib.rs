//! The parts of sse_auto that do not touch nginx: unit-tested, fuzzed and benchmarked on their own.
//! Everything here is allocation-free on the request path.

pub mod media_type;
pub mod timeout;
