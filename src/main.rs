//! `textgan`: parse the command line and call the library (see [`cli`]).

mod cli;

fn main() -> std::process::ExitCode {
    cli::main()
}
