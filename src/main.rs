//! The `testum` binary: see `testum --help`.

fn main() -> std::process::ExitCode {
    testum::cli::main()
}
