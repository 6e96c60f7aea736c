//! The `member-ledger` command line: JSON Lines in, JSON out, exit codes per docs/CONTRACT.md.
//!
//! Only this binary knows about terminals, files and exit codes; everything else is the library.

mod cli;

use std::process::ExitCode;

/// The allocator: glibc's malloc spent about a fifth of `submit`'s time on memory allocated on
/// one thread and freed on another (commands decided on one, written by the writer, printed by a third).
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> ExitCode {
    // Piped into `head`, a closed stdout ends the program quietly, as for other Unix tools.
    sigpipe::reset();
    cli::main()
}
