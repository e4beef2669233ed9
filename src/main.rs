//! The `phonebook` binary: logging, configuration, then the command line.

fn main() {
    env_logger::Builder::from_env(env_logger::Env::default().default_filter_or("info")).init();
    let result = phonebook::config::Config::from_env()
        .map_err(Into::into)
        .and_then(phonebook::cli::run);
    if let Err(error) = result {
        eprintln!("phonebook: {error}");
        std::process::exit(1);
    }
}
