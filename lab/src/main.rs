//! `lab`: see the library crate for how it is organised.

fn main() -> std::process::ExitCode {
    lab::cli::main()
}
