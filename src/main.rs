//! The `hearth` binary: all behaviour lives in the library; see `hearth --help`.

fn main() -> std::process::ExitCode {
    hearth::cli::main()
}
