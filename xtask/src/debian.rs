//! Fetching Debian packages (kernel headers, kernel images) into `target/`
//! with a private apt source list, without changing the system.
