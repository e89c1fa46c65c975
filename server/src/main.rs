fn main() {
    if let Err(e) = hongying_server::cli::main() {
        eprintln!("hongying: {e:#}");
        std::process::exit(1);
    }
}
