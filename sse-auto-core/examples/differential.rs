//! Differential check of the media-type matcher and the event-boundary tracker against their
//! reference implementations, over many generated cases.
//!
//!     cargo run --release -p sse-auto-core --example differential -- [cases] [seed]

use std::process::ExitCode;
use std::time::Instant;

fn main() -> ExitCode {
    let mut args = std::env::args().skip(1);
    let cases: u64 = args
        .next()
        .and_then(|a| a.parse().ok())
        .unwrap_or(10_000_000);
    let seed: u64 = args
        .next()
        .and_then(|a| a.parse().ok())
        .unwrap_or(0x5555_aaaa);

    let start = Instant::now();
    match sse_auto_core::differential::run(seed, cases) {
        Ok(()) => {
            println!(
                "differential: {cases} media-type and {cases} event-boundary cases agree \
                 with the reference (seed {seed}, {:.1}s)",
                start.elapsed().as_secs_f64()
            );
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("differential: MISMATCH (seed {seed}): {e}");
            ExitCode::FAILURE
        }
    }
}
