//! What the bench tools read from their environment: a module of each tool that needs it.

/// The count set in the environment variable `name`, or `default` when it is unset or empty.
pub fn env_count(name: &str, default: usize) -> Result<usize, String> {
    match std::env::var(name) {
        Ok(value) if !value.is_empty() => {
            (value.trim().parse()).map_err(|_| format!("{name}: expected a count, got {value:?}"))
        }
        _ => Ok(default),
    }
}
