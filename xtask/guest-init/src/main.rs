//! The `/init` of the test VM (being built).
fn main() {}
