//! The `member-ledger` command line: JSON Lines in, JSON out, exit codes per docs/CONTRACT.md.
//!
//! Only this binary knows about terminals, files and exit codes; everything else is the library.

mod cli;

use std::process::ExitCode;

fn main() -> ExitCode {
    // Piped into `head`, a closed stdout ends the program quietly, as for other Unix tools.
    sigpipe::reset();
    cli::main()
}
